import Foundation

/// What every key holds now on this daemon, counted across all of its sessions: the table the
/// per-key limits (max_sessions, max_listens, max_channels) are checked against. Sessions on any
/// event-loop thread take and give back their share under one lock.
public final class KeyUsage: @unchecked Sendable {
    /// A thing a key holds.
    public enum Resource: String, Sendable, CaseIterable {
        case session, listen, channel

        /// The setting that limits it.
        public var setting: String { "max_\(rawValue)s" }
    }

    /// How much one key holds.
    public struct Counts: Sendable, Equatable, Codable {
        public var sessions = 0
        public var listens = 0
        public var channels = 0

        public init(sessions: Int = 0, listens: Int = 0, channels: Int = 0) {
            self.sessions = sessions
            self.listens = listens
            self.channels = channels
        }

        subscript(resource: Resource) -> Int {
            get {
                switch resource {
                case .session: sessions
                case .listen: listens
                case .channel: channels
                }
            }
            set {
                switch resource {
                case .session: sessions = newValue
                case .listen: listens = newValue
                case .channel: channels = newValue
                }
            }
        }
    }

    private let lock = NSLock()
    private var table: [String: Counts] = [:]

    public init() {}

    /// Takes one `resource` for `key` unless it holds `limit` already (nil: no limit). Returns
    /// the refusal's reason, as the client and the audit log read it, or nil when taken.
    public func take(_ resource: Resource, key: String, limit: Int?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let held = table[key]?[resource] ?? 0
        if let limit, held >= limit {
            return Self.refusal(resource, key: key, held: held, limit: limit)
        }
        table[key, default: Counts()][resource] = held + 1
        return nil
    }

    /// Gives one `resource` of `key` back.
    public func release(_ resource: Resource, key: String) {
        lock.lock()
        defer { lock.unlock() }
        guard var counts = table[key], counts[resource] > 0 else { return }
        counts[resource] -= 1
        table[key] = counts == Counts() ? nil : counts
    }

    /// Why one more `resource` would be refused now, without taking it; nil if it would not.
    public func wouldRefuse(_ resource: Resource, key: String, limit: Int?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let held = table[key]?[resource] ?? 0
        guard let limit, held >= limit else { return nil }
        return Self.refusal(resource, key: key, held: held, limit: limit)
    }

    /// What `key` holds now.
    public func counts(for key: String) -> Counts {
        lock.lock()
        defer { lock.unlock() }
        return table[key] ?? Counts()
    }

    /// `key alex already has 2 sessions (max_sessions 2)`.
    static func refusal(_ resource: Resource, key: String, held: Int, limit: Int) -> String {
        "key \(key) already has \(held) \(resource.rawValue)\(held == 1 ? "" : "s") (\(resource.setting) \(limit))"
    }
}
