/// What one key may hold at once on this daemon, counted across all of its sessions, and how long
/// its session may sit idle. A key entry's own values override the `limits:` defaults; nil: unset
/// (in a key entry, the default applies; in the merged result, no limit).
public struct KeyLimits: Sendable, Hashable {
    /// Concurrent authenticated sessions of the key.
    public var maxSessions: Int?
    /// Concurrent listens (`-R`, TCP and Unix socket) of the key.
    public var maxListens: Int?
    /// Concurrent forwarded channels (`-L`/`-W` opens and connections to its listens) of the key.
    public var maxChannels: Int?
    /// Seconds without forwarded data or a new channel after which a session of the key ends.
    public var idleTimeout: Int?

    public init(maxSessions: Int? = nil, maxListens: Int? = nil, maxChannels: Int? = nil, idleTimeout: Int? = nil) {
        self.maxSessions = maxSessions
        self.maxListens = maxListens
        self.maxChannels = maxChannels
        self.idleTimeout = idleTimeout
    }

    /// The defaults when `limits:` names none: enough for any one person's tunnels, few enough
    /// that one key cannot take the daemon's descriptors from every other key.
    public static let standard = KeyLimits(maxSessions: 10, maxListens: 64, maxChannels: 256)

    /// A key entry's explicit "no limit" (`max_channels: unlimited`, `idle_timeout: off`), which
    /// overrides a default where nil would fall back to it. Only key entries hold it:
    /// `merged(over:)` turns it into nil, so a merged value is a number or nil (no limit).
    public static let unlimited = Int.max

    /// These values, with `defaults` wherever one is unset.
    public func merged(over defaults: KeyLimits) -> KeyLimits {
        func pick(_ own: Int?, _ fallback: Int?) -> Int? {
            let value = own ?? fallback
            return value == Self.unlimited ? nil : value
        }
        return KeyLimits(maxSessions: pick(maxSessions, defaults.maxSessions), maxListens: pick(maxListens, defaults.maxListens),
                         maxChannels: pick(maxChannels, defaults.maxChannels), idleTimeout: pick(idleTimeout, defaults.idleTimeout))
    }
}
