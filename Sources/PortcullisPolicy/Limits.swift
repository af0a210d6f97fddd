/// Connection limits: before authentication completes, and on what a session may make the
/// daemon wait for.
public struct Limits: Sendable, Hashable {
    /// Seconds from accept to authenticated before the connection is dropped.
    public var loginGraceTime: Int
    /// Failed authentication attempts after which the connection is dropped.
    public var maxAuthTries: Int

    /// Seconds a host name of a `direct-tcpip` open may take to resolve before the open is refused.
    public var resolveTimeout: Int

    /// OpenSSH's MaxStartups: unauthenticated connections before new ones are refused.
    public var maxStartups: MaxStartups = .standard
    /// OpenSSH's PerSourceMaxStartups: unauthenticated connections one source may hold; nil: no limit.
    public var perSourceMaxStartups: Int? = Limits.defaultPerSourceMaxStartups
    /// OpenSSH's PerSourceNetBlockSize: what counts as one source.
    public var perSourceNetBlockSize: NetBlockSize = .standard
    /// OpenSSH's PerSourcePenalties; nil: off.
    public var perSourcePenalties: PenaltySettings? = PenaltySettings()
    /// OpenSSH's PerSourcePenaltyExemptList: sources never penalised.
    public var perSourcePenaltyExemptList: [IPNetwork] = []

    /// Per-key defaults (`max_sessions`, `max_listens`, `max_channels`, `idle_timeout`).
    public var keyDefaults: KeyLimits = .standard
    /// OpenSSH's ClientAliveInterval: seconds of silence from a client before it is asked whether
    /// it is alive; 0: never asked. Unlike sshd (off), 15 s by default.
    public var clientAliveInterval: Int = 15
    /// OpenSSH's ClientAliveCountMax: unanswered asks after which the session ends.
    public var clientAliveCountMax: Int = 3

    /// Unlike OpenSSH (no limit), one source may hold 5 unauthenticated connections by default:
    /// fewer than max_startups' start (10), so that one source alone can never make the server
    /// refuse anybody else.
    public static let defaultPerSourceMaxStartups: Int? = 5

    public init(loginGraceTime: Int = 30, maxAuthTries: Int = 6, resolveTimeout: Int = 5) {
        self.loginGraceTime = loginGraceTime
        self.maxAuthTries = maxAuthTries
        self.resolveTimeout = resolveTimeout
    }
}
