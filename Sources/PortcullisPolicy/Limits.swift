/// Connection limits applied before authentication completes.
public struct Limits: Sendable, Hashable {
    /// Seconds from accept to authenticated before the connection is dropped.
    public var loginGraceTime: Int
    /// Failed authentication attempts after which the connection is dropped.
    public var maxAuthTries: Int

    public init(loginGraceTime: Int = 30, maxAuthTries: Int = 6) {
        self.loginGraceTime = loginGraceTime
        self.maxAuthTries = maxAuthTries
    }
}
