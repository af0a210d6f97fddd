/// A crash recovery found in the chain: an `audit-recovered` record and where it is.
public struct AuditRecoveryNote: Sendable, Hashable, CustomStringConvertible {
    /// The log file and 1-based line of the `audit-recovered` record.
    public let file: String
    public let line: Int
    public let seq: UInt64
    public let ts: String
    public let recovery: AuditRecovery
    /// Where the side file was found holding the bytes noted; nil if not found (or none).
    public var sideFileFound: String?

    public init(file: String, line: Int, seq: UInt64, ts: String, recovery: AuditRecovery, sideFileFound: String?) {
        self.file = file
        self.line = line
        self.seq = seq
        self.ts = ts
        self.recovery = recovery
        self.sideFileFound = sideFileFound
    }

    /// `FILE:LINE: recovery (seq N, TS): what was done`.
    public var description: String {
        let what: String
        switch recovery.action {
        case .movedAside:
            let side = sideFileFound.map { "kept in \($0)" } ?? "side file \(recovery.sideFile ?? "?") not found"
            what = "torn last line of \(recovery.file) moved aside: \(recovery.byteCount) bytes from offset "
                + "\(recovery.offset), sha256 \(recovery.sha256), \(side) (\(recovery.reason))"
        case .completed:
            what = "the record at offset \(recovery.offset) of \(recovery.file) lacked only its newline, which was added"
        }
        return "\(file):\(line): recovery (seq \(seq), \(ts)): \(what)"
    }
}
