/// The source a connection counts against: the client's address with only its leading
/// `prefixLength` bits kept (PerSourceNetBlockSize), such as `192.0.2.0/24` or `127.0.0.2/32`.
public struct SourceBlock: Sendable, Hashable, CustomStringConvertible {
    /// The masked address bytes (4 or 16).
    public let bytes: [UInt8]
    public let prefixLength: Int

    /// The block of `address` under `sizes`.
    public init(_ address: IPAddress, sizes: NetBlockSize) {
        let length = address.isIPv4 ? sizes.ipv4 : sizes.ipv6
        var bytes = address.bytes
        for index in bytes.indices {
            let bitsHere = Swift.max(0, Swift.min(8, length - 8 * index))
            bytes[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        self.bytes = bytes
        prefixLength = length
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String { "\(IPAddress(raw: bytes))/\(prefixLength)" }
}
