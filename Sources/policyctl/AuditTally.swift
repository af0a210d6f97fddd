import PortcullisAudit

/// What `policyctl audit summary` counts while records stream past. Memory grows with the number
/// of keys, of unknown fingerprints (at most ``unknownCapacity``, least seen dropped first) and of
/// open sessions, never with the length of the log.
struct AuditTally {
    static let refusedTargetCapacity = 64
    static let unknownCapacity = 1000

    /// One forward's kind and target.
    struct Target: Hashable {
        let kind: String
        let target: String
    }

    /// The figures of one configured key, from the records that passed the filters.
    struct KeyFigures {
        /// Successful logins.
        var sessions = 0
        var failedLogins = 0
        /// Forward requests allowed and refused.
        var grants = 0
        var refusals = 0
        /// Summed over the key's closed channels.
        var bytesFromClient: Int64 = 0
        var bytesToClient: Int64 = 0
        var refusedTargets = TopCounter<Target>(capacity: AuditTally.refusedTargetCapacity)
        var lastSeen = ""
    }

    /// Failed logins with one key that is not configured.
    struct UnknownKey {
        var lastSeen = ""
        var lastUser = ""
        var lastClient = ""
    }

    /// A session of one proxy (nil: a log from before proxy ids).
    struct SessionID: Hashable {
        let proxy: String?
        let id: UInt64
    }

    /// A session with a start and no end yet, as far as the log shows.
    struct OpenSession {
        let proxy: String?
        let id: UInt64
        let started: String
        let client: String
        var key: String?
        var user: String?
        /// Listens in place (forward-bound and not cancelled), in the order they were bound.
        var listens: [(target: Target, bound: String)] = []
        /// Whether any of its records passed the filters; only those are reported.
        var matched = false
    }

    private(set) var keys: [String: KeyFigures] = [:]
    private(set) var unknownAttempts = TopCounter<String>(capacity: AuditTally.unknownCapacity)
    private(set) var unknownKeys: [String: UnknownKey] = [:]
    private(set) var openSessions: [SessionID: OpenSession] = [:]
    private(set) var recordsRead = 0
    private(set) var recordsMatched = 0
    /// The timestamp of the last record that counted for the open sessions.
    private(set) var lastTimestamp: String?

    /// Takes in every record in log order: those that passed the filters count for keys and
    /// unknown fingerprints; all that are not past `--until` count for the open sessions.
    mutating func add(_ match: AuditMatcher.Match, pastUntil: Bool) {
        recordsRead += 1
        if match.matches {
            recordsMatched += 1
            count(match)
        }
        if !pastUntil { track(match) }
    }

    private mutating func count(_ match: AuditMatcher.Match) {
        let record = match.record
        func string(_ name: String) -> String? { record[field: name]?.stringValue }
        let allowed = string(AuditField.decision) == AuditFilter.Decision.allow.rawValue
        // A login attempt is the key it presented, not an earlier attempt's in the same session.
        let key = record.event == AuditEvent.auth ? string(AuditField.key) : match.identity[AuditField.key]
        if record.event == AuditEvent.auth, key == nil, !allowed {
            let fingerprint = string(AuditField.fingerprint) ?? "(no fingerprint)"
            if let dropped = unknownAttempts.add(fingerprint) { unknownKeys[dropped] = nil }
            unknownKeys[fingerprint] = UnknownKey(lastSeen: record.ts, lastUser: string(AuditField.user) ?? "",
                                                  lastClient: match.identity[AuditField.client] ?? "")
        }
        guard let key else { return }
        var figures = keys[key] ?? KeyFigures()
        figures.lastSeen = record.ts
        switch record.event {
        case AuditEvent.auth:
            if allowed { figures.sessions += 1 } else { figures.failedLogins += 1 }
        case AuditEvent.forwardRequest:
            if allowed {
                figures.grants += 1
            } else {
                figures.refusals += 1
                figures.refusedTargets.add(Target(kind: string(AuditField.kind) ?? "", target: string(AuditField.target) ?? ""))
            }
        case AuditEvent.channelClose:
            figures.bytesFromClient += record[field: AuditField.bytesFromClient]?.intValue ?? 0
            figures.bytesToClient += record[field: AuditField.bytesToClient]?.intValue ?? 0
        default: break
        }
        keys[key] = figures
    }

    private mutating func track(_ match: AuditMatcher.Match) {
        let record = match.record
        lastTimestamp = record.ts
        func string(_ name: String) -> String? { record[field: name]?.stringValue }
        switch record.event {
        case AuditEvent.daemonStart, AuditEvent.daemonStop:
            // Only that proxy's sessions end.
            openSessions = openSessions.filter { $0.key.proxy != record.proxy }
        case AuditEvent.sessionStart:
            guard let session = record.session else { break }
            let id = SessionID(proxy: record.proxy, id: session)
            let client = string(AuditField.client) ?? ""
            let port = record[field: AuditField.clientPort]?.intValue
            let address = port.map { client.contains(":") ? "[\(client)]:\($0)" : "\(client):\($0)" } ?? client
            openSessions[id] = OpenSession(proxy: record.proxy, id: session, started: record.ts, client: address)
        case AuditEvent.sessionEnd:
            if let session = record.session { openSessions[SessionID(proxy: record.proxy, id: session)] = nil }
        default:
            guard let number = record.session, case let id = SessionID(proxy: record.proxy, id: number),
                  var session = openSessions[id] else { break }
            let target = Target(kind: string(AuditField.kind) ?? "", target: string(AuditField.target) ?? "")
            switch record.event {
            case AuditEvent.auth where string(AuditField.decision) == AuditFilter.Decision.allow.rawValue:
                session.key = string(AuditField.key)
                session.user = string(AuditField.user)
            case AuditEvent.forwardBound:
                session.listens.append((target, string(AuditField.bound) ?? ""))
            case AuditEvent.forwardCancelled, AuditEvent.forwardFailed:
                session.listens.removeAll { $0.target == target }
            default: break
            }
            openSessions[id] = session
        }
        if match.matches, let id = record.session { openSessions[SessionID(proxy: record.proxy, id: id)]?.matched = true }
    }
}
