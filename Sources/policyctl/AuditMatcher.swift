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

    /// Takes in a line only to learn who its session is: lines of events that cannot change that
    /// are recognised from their bytes and not parsed; lines that are not records are ignored.
    mutating func observe(_ line: [UInt8]) {
        guard let event = Self.event(in: line), Self.identityEvents.contains(event) else { return }
        _ = try? take(line)
    }

    /// The events that start, end or identify sessions.
    private static let identityEvents: Set<[UInt8]> = Set([AuditEvent.sessionStart, AuditEvent.auth, AuditEvent.sessionEnd,
                                                           AuditEvent.daemonStart, AuditEvent.daemonStop].map { Array($0.utf8) })

    /// The `event` of a line in the log's member order (`ts`, `seq`, `event` first), read from its
    /// bytes; nil if it is not found near the start.
    private static func event(in line: [UInt8]) -> [UInt8]? {
        let marker = Array(#""event":""#.utf8)
        let window = line.prefix(128)
        guard window.count >= marker.count else { return nil }
        for start in 0...(window.count - marker.count) where window[start..<start + marker.count].elementsEqual(marker) {
            let name = window[(start + marker.count)...]
            return name.firstIndex(of: UInt8(ascii: "\"")).map { Array(name[..<$0]) }
        }
        return nil
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
