/// Which address a remote TCP listen binds, as OpenSSH's GatewayPorts: the server applies it
/// after the policy has matched the host string the client sent.
public enum GatewayPorts: String, Sendable, Hashable, CaseIterable {
    /// Only 127.0.0.1 and ::1 are honoured as given; anything else binds loopback.
    case no
    /// Always the wildcard address.
    case yes
    /// "" and `*` bind the wildcard, `localhost` both loopbacks, others as given.
    case clientspecified
}
