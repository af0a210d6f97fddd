/// One line of the audit log: `{"ts":…,"seq":…,"event":…,"session":…,"proxy":…,<fields…>,"prev":…}`.
///
/// `session` is left out for daemon-level events; `proxy` (the writing proxy's id) in logs written
/// before proxy ids. `fields` keep the order they were given in. The chain hashes the whole line,
/// `proxy` included.
public struct AuditRecord: Sendable, Hashable {
    /// The names the record itself uses; a field may not take one of them.
    public static let reservedKeys: Set<String> = ["ts", "seq", "event", "session", "proxy", "prev"]

    /// When, in ``AuditTimestamp`` form.
    public var ts: String
    /// Position in the chain, one more than the record before.
    public var seq: UInt64
    public var event: String
    public var session: UInt64?
    /// The id of the proxy that wrote the record (`proxy_id`); nil in logs from before proxy ids.
    public var proxy: String?
    public var fields: [JSONMember]
    /// Hex SHA-256 of the previous line as written (without its newline); ``AuditChain/genesis`` first.
    public var prev: String

    public init(ts: String, seq: UInt64, event: String, session: UInt64?, proxy: String? = nil, fields: [JSONMember],
                prev: String) {
        self.ts = ts
        self.seq = seq
        self.event = event
        self.session = session
        self.proxy = proxy
        self.fields = fields
        self.prev = prev
    }

    /// The value of field `key`, if the record has it.
    public subscript(field key: String) -> JSONValue? {
        fields.first { $0.key == key }?.value
    }

    /// The line as the log holds it, without the newline.
    public var line: [UInt8] {
        var members = [JSONMember("ts", .string(ts)), JSONMember("seq", .int(Int64(seq))), JSONMember("event", .string(event))]
        if let session { members.append(JSONMember("session", .int(Int64(session)))) }
        if let proxy { members.append(JSONMember("proxy", .string(proxy))) }
        members += fields
        members.append(JSONMember("prev", .string(prev)))
        var out: [UInt8] = []
        out.reserveCapacity(256)
        JSONValue.encodeObject(members, into: &out)
        return out
    }

    /// Parses one line (without its newline).
    public init(line: some Collection<UInt8>) throws(AuditRecordError) {
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch { throw .syntax(error) }
        guard case .object(let members) = value else { throw .missing("object") }
        func member(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
        guard let ts = member("ts")?.stringValue else { throw .missing("ts") }
        guard let seq = member("seq")?.intValue, seq >= 0 else { throw .missing("seq") }
        guard let event = member("event")?.stringValue else { throw .missing("event") }
        guard let prev = member("prev")?.stringValue else { throw .missing("prev") }
        var session: UInt64?
        if let value = member("session") {
            guard let id = value.intValue, id >= 0 else { throw .missing("session") }
            session = UInt64(id)
        }
        var proxy: String?
        if let value = member("proxy") {
            guard let id = value.stringValue else { throw .missing("proxy") }
            proxy = id
        }
        self.init(ts: ts, seq: UInt64(seq), event: event, session: session, proxy: proxy,
                  fields: members.filter { !Self.reservedKeys.contains($0.key) }, prev: prev)
    }
}

/// Why a line is not an audit record.
public enum AuditRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    case syntax(JSONSyntaxError)
    /// A required member is absent or of the wrong type.
    case missing(String)

    public var description: String {
        switch self {
        case .syntax(let error): "not JSON: \(error)"
        case .missing(let key): "no valid \"\(key)\""
        }
    }
}
