import Foundation

/// What every key holds now on this daemon, counted across all of its sessions: the table the
/// per-key limits (max_sessions, max_listens, max_channels) are checked against. Sessions on any
/// event-loop thread take and give back their share under one lock.
public final class KeyUsage: @unchecked Sendable {
    /// A thing a key holds.
    public enum Resource: String, Sendable, CaseIterable {
        case session, listen, channel
        /// A connection arriving at one of the key's listens (`-R`): limited by max_channels too,
        /// but counted apart from the channels the key opens, so that whoever can reach a listen
        /// cannot keep the key from opening its own.
        case arrival

        /// The setting that limits it.
        public var setting: String { self == .arrival ? "max_channels" : "max_\(rawValue)s" }
    }

    /// How much one key holds.
    public struct Counts: Sendable, Equatable, Codable {
        public var sessions = 0
        public var listens = 0
        public var channels = 0
        public var arrivals = 0

        public init(sessions: Int = 0, listens: Int = 0, channels: Int = 0, arrivals: Int = 0) {
            self.sessions = sessions
            self.listens = listens
            self.channels = channels
            self.arrivals = arrivals
        }

        subscript(resource: Resource) -> Int {
            get {
                switch resource {
                case .session: sessions
                case .listen: listens
                case .channel: channels
                case .arrival: arrivals
                }
            }
            set {
                switch resource {
                case .session: sessions = newValue
                case .listen: listens = newValue
                case .channel: channels = newValue
                case .arrival: arrivals = newValue
                }
            }
        }
    }

    private let lock = NSLock()
    private var table: [String: Counts] = [:]

    public init() {}

    /// Takes one `resource` for `key` unless it holds `limit` already (nil: no limit). Returns
    /// the refusal's reason, as the client and the audit log read it, or nil when taken.
    /// `key` is what the key is counted under; `name` (default: `key`) what the reason calls it.
    public func take(_ resource: Resource, key: String, name: String? = nil, limit: Int?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let held = table[key]?[resource] ?? 0
        if let limit, held >= limit {
            return Self.refusal(resource, key: name ?? key, held: held, limit: limit)
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
    public func wouldRefuse(_ resource: Resource, key: String, name: String? = nil, limit: Int?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let held = table[key]?[resource] ?? 0
        guard let limit, held >= limit else { return nil }
        return Self.refusal(resource, key: name ?? key, held: held, limit: limit)
    }

    /// What `key` holds now.
    public func counts(for key: String) -> Counts {
        lock.lock()
        defer { lock.unlock() }
        return table[key] ?? Counts()
    }

    /// `key alex already has 2 sessions (max_sessions 2)`.
    static func refusal(_ resource: Resource, key: String, held: Int, limit: Int) -> String {
        let what = resource == .arrival ? "connection\(held == 1 ? "" : "s") to its listens"
                                        : "\(resource.rawValue)\(held == 1 ? "" : "s")"
        return "key \(key) already has \(held) \(what) (\(resource.setting) \(limit))"
    }
}
