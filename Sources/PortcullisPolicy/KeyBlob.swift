/// Structural checks on an SSH public key blob (RFC 4253 wire format): the leading string names
/// the algorithm, and the fields that algorithm needs follow, with nothing left over.
enum KeyBlob {
    /// The algorithms a key line may name.
    static let algorithms: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    /// Why `blob` is not a well-formed key of `algorithm`, or nil.
    static func problem(in blob: [UInt8], algorithm: String) -> String? {
        var reader = Reader(bytes: blob)
        guard let name = reader.string() else { return "key blob is truncated" }
        guard name.elementsEqual(algorithm.utf8) else {
            return "key blob is for \(String(decoding: name, as: UTF8.self)), not \(algorithm)"
        }
        var fields: [ArraySlice<UInt8>] = []
        while !reader.isAtEnd {
            guard let field = reader.string() else { return "key blob is truncated" }
            fields.append(field)
        }
        switch algorithm {
        case "ssh-ed25519", "sk-ssh-ed25519@openssh.com":
            let expected = algorithm == "ssh-ed25519" ? 1 : 2
            guard fields.count == expected, fields[0].count == 32 else { return "malformed \(algorithm) key blob" }
        case "ssh-rsa":
            guard fields.count == 2 else { return "malformed ssh-rsa key blob" }
            let modulus = fields[1].drop { $0 == 0 }
            let bits = modulus.isEmpty ? 0 : modulus.count * 8 - modulus.first!.leadingZeroBitCount
            guard bits >= 1024 else { return "RSA key of \(bits) bits is too small (minimum 1024)" }
        default: // ECDSA, plain or security-key
            let curve = algorithm.hasSuffix("nistp384") ? "nistp384"
                : algorithm.hasSuffix("nistp521") ? "nistp521" : "nistp256"
            let pointLength = ["nistp256": 65, "nistp384": 97, "nistp521": 133][curve]!
            let expected = algorithm.hasPrefix("sk-") ? 3 : 2
            guard fields.count == expected, fields[0].elementsEqual(curve.utf8),
                  fields[1].count == pointLength, fields[1].first == 4 else {
                return "malformed \(algorithm) key blob"
            }
        }
        return nil
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var isAtEnd: Bool { offset == bytes.count }

        mutating func string() -> ArraySlice<UInt8>? {
            guard bytes.count - offset >= 4 else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard bytes.count - offset - 4 >= length else { return nil }
            defer { offset += 4 + length }
            return bytes[(offset + 4)..<(offset + 4 + length)]
        }
    }
}
