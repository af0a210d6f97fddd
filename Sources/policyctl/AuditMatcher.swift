import PortcullisAudit

/// Parses log lines one by one and decides which pass the filter. It remembers who each open
/// session is, so identity filters (key, fingerprint, user, client) also match the later records
/// of a matching session; a daemon start or stop ends every session before it.
struct AuditMatcher {
    let filter: AuditFilter
    private var sessions = AuditSessionTracker(endEvent: AuditEvent.sessionEnd)

    init(filter: AuditFilter) { self.filter = filter }

    /// One record as the matcher saw it.
    struct Match {
        let record: AuditRecord
        /// The session's key, fingerprint, user and client as far as known, this record's own included.
        let identity: [String: String]
        let matches: Bool
    }

    /// Takes in the next line (without its newline).
    mutating func take(_ line: [UInt8]) throws(AuditRecordError) -> Match {
        let record = try AuditRecord(line: line)
        let identity: [String: String]
        if record.event == AuditEvent.daemonStart || record.event == AuditEvent.daemonStop {
            sessions = AuditSessionTracker(endEvent: AuditEvent.sessionEnd)
            identity = [:]
        } else {
            identity = sessions.observe(record)
        }
        return Match(record: record, identity: identity, matches: filter.matches(record, identity: identity))
    }
}
