import PortcullisPolicy

/// Decides who may log in and what each session may forward. The daemon backs it with the
/// policy engine; the server layer only asks.
public protocol SessionAuthority: Sendable {
    /// Whether `key` may log in as `user` from `client`, and if so, the rules for its session.
    func admit(user: String, key: PublicKey, client: Endpoint) -> Admission

    /// Changes whenever the rules change (a reload); sessions then ask `admit` again and end if
    /// their key is no longer admitted.
    var generation: UInt64 { get }
}

extension SessionAuthority {
    public var generation: UInt64 { 0 }
}

/// The answer to a login attempt.
public enum Admission: Sendable {
    case admitted(any SessionRules)
    /// `keyName`: the configured name of the key, when it is known but may not log in now.
    case refused(reason: String, keyName: String? = nil)
}

/// The rules that govern one authenticated session.
public protocol SessionRules: Sendable {
    /// The name of the key that authenticated, for logs.
    var keyName: String { get }
    /// Whether the session may do `request`, and why.
    func decide(_ request: ForwardRequest) -> Decision

    /// For `ssh -R 0:...` on `host`: the port ranges a dynamic listen may allocate from.
    func dynamicPortRanges(host: String) -> [ClosedRange<Int>]

    /// The decision for opening `host:port` once `host` resolved to `resolvedAddresses`, with the
    /// addresses among them the server may connect to.
    func decideOpen(host: String, port: Int, resolvedAddresses: [String]) -> (Decision, [String])

    /// Whether opening `host:port`, not allowed by the host name as requested, could still be
    /// allowed once `host` is resolved (a CIDR rule for the port): only then is it looked up.
    func mayAllowOnceResolved(host: String, port: Int) -> Bool

    /// Whether a name may be published that is also a resolvable host name (`names_may_shadow_hosts`).
    var namesMayShadowHosts: Bool { get }

    /// The key's limits in force now (its own values over the configured defaults).
    var limits: KeyLimits { get }

    /// What the key's use is counted under for its limits: one value for every session of one
    /// public key, so that renaming the entry in a reload does not give it a second allowance.
    var usageKey: String { get }
}

extension SessionRules {
    public func dynamicPortRanges(host: String) -> [ClosedRange<Int>] { [1024...65535] }

    public func decideOpen(host: String, port: Int, resolvedAddresses: [String]) -> (Decision, [String]) {
        let decision = decide(.tcpOpen(host: host, port: port))
        return (decision, decision.isAllowed ? resolvedAddresses : [])
    }

    public func mayAllowOnceResolved(host: String, port: Int) -> Bool { false }

    public var namesMayShadowHosts: Bool { false }

    public var limits: KeyLimits { KeyLimits() }

    public var usageKey: String { keyName }
}
