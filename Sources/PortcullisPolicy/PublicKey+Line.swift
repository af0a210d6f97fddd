import Foundation

extension PublicKey {
    /// Parses one OpenSSH public key line, `algorithm base64 [comment]` (no options), checking
    /// that the base64 decodes to a well-formed blob of that algorithm. Returns the key (base64
    /// in canonical form, fingerprint computed) and the comment, if any.
    public static func parse(line: String) throws(PatternError) -> (key: PublicKey, comment: String?) {
        let trimmed = line.trimmingASCIIWhitespace()
        let fields = trimmed.split(maxSplits: 2, omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" }
        guard fields.count >= 2 else {
            throw PatternError("expected an OpenSSH public key line: algorithm base64 [comment]")
        }
        let algorithm = String(fields[0])
        guard KeyBlob.algorithms.contains(algorithm) else {
            throw PatternError("unsupported key type \"\(algorithm)\" (expected one of \(KeyBlob.algorithms.sorted().joined(separator: ", ")))")
        }
        guard let data = Data(base64Encoded: String(fields[1])) else {
            throw PatternError("key data is not valid base64")
        }
        let blob = [UInt8](data)
        if let problem = KeyBlob.problem(in: blob, algorithm: algorithm) { throw PatternError(problem) }
        let comment = fields.count == 3 ? String(fields[2].trimmingASCIIWhitespace()) : nil
        let key = PublicKey(algorithm: algorithm, base64: data.base64EncodedString(), fingerprint: fingerprint(ofBlob: blob))
        return (key, comment)
    }

    /// Parses a key line, dropping its comment.
    public init(line: String) throws(PatternError) {
        self = try PublicKey.parse(line: line).key
    }

    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    public static func fingerprint(ofBlob blob: [UInt8]) -> String {
        var digest = Data(SHA256.hash(blob)).base64EncodedString()
        while digest.last == "=" { digest.removeLast() }
        return "SHA256:" + digest
    }

    /// The base64 blob in canonical form (nil if it does not decode), the policy's lookup key.
    var canonicalBase64: String? {
        Data(base64Encoded: base64).map { $0.base64EncodedString() }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines.
    func trimmingASCIIWhitespace() -> SubSequence {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
