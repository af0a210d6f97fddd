/// A CIDR block such as `10.0.0.0/8` or `fd00::/8`.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Parses `address/length` (or a bare address, a single-host network). Fails with a reason,
    /// including when bits are set below the prefix (`10.0.0.1/8`), as OpenSSH does.
    public static func parse(_ text: String) -> Result<IPNetwork, PatternError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            return .failure(PatternError("\(parts[0]) is not an IP address"))
        }
        if parts.count == 2, address.isIPv4, parts[0].utf8.contains(UInt8(ascii: ":")) {
            return .failure(PatternError("\(text) is an IPv4-mapped address: write it as IPv4"))
        }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(digits), value <= maximum else {
                return .failure(PatternError("bad prefix length /\(digits) (0-\(maximum))"))
            }
            length = value
        }
        let network = IPNetwork(address: address, prefixLength: length)
        guard network.masked(address) == address else {
            let suggestion = IPNetwork(address: network.masked(address), prefixLength: length)
            return .failure(PatternError("host bits set in \(text) (did you mean \(suggestion)?)"))
        }
        return .success(network)
    }

    init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Whether `candidate` lies inside this block (IPv4-mapped IPv6 counts as IPv4).
    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.bytes.count == address.bytes.count && masked(candidate) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private func masked(_ value: IPAddress) -> IPAddress {
        var bytes = value.bytes
        for index in bytes.indices {
            let bitsHere = max(0, min(8, prefixLength - 8 * index))
            bytes[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return IPAddress(raw: bytes)
    }
}
