import Foundation

/// Which records a review shows: every criterion set must hold (nil criteria match everything).
///
/// `client` and `target` are predicates the caller builds (a CIDR's `contains`, a glob's match),
/// so the patterns mean exactly what they mean in the policy engine.
public struct AuditFilter: Sendable {
    public enum Decision: String, Sendable, Hashable {
        case allow, deny
    }

    public var key: String?
    public var fingerprint: String?
    public var user: String?
    /// Tested on the ``AuditField/client`` address.
    public var client: (@Sendable (String) -> Bool)?
    public var event: String?
    public var decision: Decision?
    public var kind: String?
    /// Tested on the ``AuditField/target`` as requested.
    public var target: (@Sendable (String) -> Bool)?
    public var session: UInt64?
    /// The writing proxy's id (``AuditRecord/proxy``).
    public var proxy: String?
    /// Inclusive.
    public var since: Date?
    /// Exclusive.
    public var until: Date?

    public init() {}

    /// Whether `record` passes. `identity` (from ``AuditSessionTracker``) supplies the session's
    /// key, fingerprint, user and client for records that do not carry them themselves.
    public func matches(_ record: AuditRecord, identity: [String: String] = [:]) -> Bool {
        func value(_ name: String) -> String? { record[field: name]?.stringValue ?? identity[name] }
        func equal(_ wanted: String?, _ name: String) -> Bool { wanted.map { value(name) == $0 } ?? true }
        func passes(_ predicate: ((String) -> Bool)?, _ name: String) -> Bool {
            guard let predicate else { return true }
            return value(name).map(predicate) ?? false
        }
        guard equal(key, AuditField.key), equal(fingerprint, AuditField.fingerprint), equal(user, AuditField.user),
              equal(kind, AuditField.kind), equal(decision?.rawValue, AuditField.decision),
              passes(client, AuditField.client), passes(target, AuditField.target),
              event.map({ record.event == $0 }) ?? true, session.map({ record.session == $0 }) ?? true,
              proxy.map({ record.proxy == $0 }) ?? true
        else { return false }
        if since != nil || until != nil {
            guard let date = AuditTimestamp.date(from: record.ts) else { return false }
            if let since, date < since { return false }
            if let until, date >= until { return false }
        }
        return true
    }
}
