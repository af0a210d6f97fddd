import PortcullisPolicy

/// Decides who may log in and what each session may forward. The daemon backs it with the
/// policy engine; the server layer only asks.
public protocol SessionAuthority: Sendable {
    /// Whether `key` may log in as `user` from `client`, and if so, the rules for its session.
    func admit(user: String, key: PublicKey, client: Endpoint) -> Admission
}

/// The answer to a login attempt.
public enum Admission: Sendable {
    case admitted(any SessionRules)
    case refused(reason: String)
}

/// The rules that govern one authenticated session.
public protocol SessionRules: Sendable {
    /// The name of the key that authenticated, for logs.
    var keyName: String { get }
    /// Whether the session may do `request`, and why.
    func decide(_ request: ForwardRequest) -> Decision
}
