import Foundation

/// The hash chain's vocabulary.
public enum AuditChain {
    /// Lowercase hex SHA-256 of a line's bytes. Injected so this module needs no crypto of its own;
    /// the daemon passes the project's SHA-256.
    public typealias Hash = @Sendable (Data) -> String

    /// The `prev` of the first record of a fresh log.
    public static let genesis = String(repeating: "0", count: 64)
}

/// Where a chain stands: the last record's `seq` and the hash of its line.
public struct AuditChainPoint: Sendable, Hashable {
    public var seq: UInt64
    public var hash: String

    public init(seq: UInt64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    /// Before any record.
    public static let start = AuditChainPoint(seq: 0, hash: AuditChain.genesis)
}
