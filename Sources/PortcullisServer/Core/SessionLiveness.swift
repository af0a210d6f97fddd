/// Whether an authenticated session's client still answers, and whether the session is still
/// used: OpenSSH's ClientAliveInterval/ClientAliveCountMax, and the per-key `idle_timeout`.
/// Pure: the worker feeds it the session's byte counters and the clock (monotonic nanoseconds) and
/// carries out what it returns.
///
/// - Alive: after `interval` seconds with nothing received from the client, ask it (a keepalive
///   with want-reply) and count; anything received resets the count; when the count would pass
///   `countMax` (another `interval` after the last unanswered ask), the session ends.
/// - Idle: `idleTimeout` seconds without forwarded data and without a new channel end it.
///   Keepalive answers are not use: they reset the alive count, not the idle clock.
struct SessionLiveness: Equatable {
    /// What the worker does now.
    enum Action: Equatable {
        case none
        /// Send a keepalive@openssh.com global request with want-reply.
        case askClient
        /// End the session, with this reason in the audit log.
        case end(reason: String)
    }

    /// Seconds of silence before the client is asked; 0: never.
    let interval: Int
    /// Unanswered asks after which the session ends.
    let countMax: Int
    /// Asks sent since the client last sent anything.
    private(set) var unanswered = 0
    private var receivedCount: UInt64 = 0
    private var activityCount: UInt64 = 0
    private var lastReceived: UInt64
    private var lastAsked: UInt64 = 0
    private var lastActive: UInt64

    private static let second: UInt64 = 1_000_000_000

    init(interval: Int, countMax: Int, now: UInt64) {
        self.interval = max(0, interval)
        self.countMax = max(1, countMax)
        lastReceived = now
        lastActive = now
    }

    /// Takes in the counters: `received`, the bytes read from the client so far; `activity`,
    /// anything that changes with use (the time the session last forwarded data or opened a channel).
    mutating func observe(received: UInt64, activity: UInt64, now: UInt64) {
        if received != receivedCount {
            receivedCount = received
            lastReceived = now
            unanswered = 0
        }
        if activity != activityCount {
            activityCount = activity
            lastActive = now
        }
    }

    /// What is due at `now`, with the key's idle timeout in force (nil or 0: none).
    mutating func due(now: UInt64, idleTimeout: Int?) -> Action {
        if let idle = idleTimeout, idle > 0, now >= lastActive &+ Self.nanoseconds(idle) {
            return .end(reason: "idle for \(idle) s (idle_timeout)")
        }
        guard interval > 0, now >= nextAsk else { return .none }
        if unanswered >= countMax {
            let asks = countMax == 1 ? "1 keepalive" : "\(countMax) keepalives"
            return .end(reason: "client did not answer \(asks) (\(interval) s apart)")
        }
        unanswered += 1
        lastAsked = now
        return .askClient
    }

    /// When something next falls due (monotonic nanoseconds), or nil if never.
    func deadline(idleTimeout: Int?) -> UInt64? {
        var earliest: UInt64?
        if interval > 0 { earliest = nextAsk }
        if let idle = idleTimeout, idle > 0 {
            let idleAt = lastActive &+ Self.nanoseconds(idle)
            earliest = min(earliest ?? idleAt, idleAt)
        }
        return earliest
    }

    /// The next ask (or the end): `interval` after the later of the last byte received and the last ask.
    private var nextAsk: UInt64 {
        max(lastReceived, lastAsked) &+ Self.nanoseconds(interval)
    }

    /// `seconds` in nanoseconds, at most about a century (no overflow for any configured value).
    private static func nanoseconds(_ seconds: Int) -> UInt64 {
        UInt64(min(max(0, seconds), 3_155_760_000)) * second
    }
}
