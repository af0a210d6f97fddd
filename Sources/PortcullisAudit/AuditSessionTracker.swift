/// Remembers, while records stream past, who each open session is (the ``AuditField/identity``
/// fields seen so far in it), so a filter on `key` also finds the session's forwards and channels.
/// Memory is bounded by the sessions open at once: a session is forgotten at its end event.
public struct AuditSessionTracker: Sendable {
    private let endEvent: String
    private var sessions: [UInt64: [String: String]] = [:]

    /// `endEvent`: the event that closes a session.
    public init(endEvent: String) { self.endEvent = endEvent }

    /// Takes in `record` and returns its session's identity, this record's own fields included.
    public mutating func observe(_ record: AuditRecord) -> [String: String] {
        guard let session = record.session else { return [:] }
        var identity = sessions[session] ?? [:]
        for name in AuditField.identity {
            if let value = record[field: name]?.stringValue { identity[name] = value }
        }
        if record.event == endEvent {
            sessions[session] = nil
        } else {
            sessions[session] = identity
        }
        return identity
    }

    /// Sessions seen and not yet ended.
    public var openSessions: Set<UInt64> { Set(sessions.keys) }
}
