/// Connection limits: before authentication completes, and on what a session may make the
/// daemon wait for.
public struct Limits: Sendable, Hashable {
    /// Seconds from accept to authenticated before the connection is dropped.
    public var loginGraceTime: Int
    /// Failed authentication attempts after which the connection is dropped.
    public var maxAuthTries: Int

    /// Seconds a host name of a `direct-tcpip` open may take to resolve before the open is refused.
    public var resolveTimeout: Int

    public init(loginGraceTime: Int = 30, maxAuthTries: Int = 6, resolveTimeout: Int = 5) {
        self.loginGraceTime = loginGraceTime
        self.maxAuthTries = maxAuthTries
        self.resolveTimeout = resolveTimeout
    }
}
