/// One thing a client asks the proxy to do for it, as the client sent it.
public enum ForwardRequest: Sendable, Hashable, CustomStringConvertible {
    /// `ssh -R [host:]port:...`: listen on a TCP port on the proxy.
    case tcpListen(host: String, port: Int)
    /// `ssh -L ...:host:port`, `-W`, `-J`: connect from the proxy to a TCP host and port.
    case tcpOpen(host: String, port: Int)
    /// `ssh -R /path:...`: listen on a Unix socket on the proxy.
    case streamLocalListen(path: String)
    /// `ssh -L ...:/path`: connect from the proxy to a Unix socket.
    case streamLocalOpen(path: String)
    /// `ssh -R NAME:port:...` with a host that is a name (``ServiceName/isNameRequest(_:)``):
    /// publish the client's service under `name` in the proxy's name table; nothing is bound.
    case namePublish(name: String, port: Int)
    /// `ssh -J proxy NAME`, `-W NAME:port`: reach the service published under `name`.
    case nameOpen(name: String, port: Int)

    /// The kind's name, as the audit log and `policyctl check` spell it.
    public var kind: String {
        switch self {
        case .tcpListen: "tcp-listen"
        case .tcpOpen: "tcp-open"
        case .streamLocalListen: "streamlocal-listen"
        case .streamLocalOpen: "streamlocal-open"
        case .namePublish: "name-publish"
        case .nameOpen: "name-open"
        }
    }

    /// The target as requested: `host:port` or the socket path.
    public var target: String {
        switch self {
        case .tcpListen(let host, let port), .tcpOpen(let host, let port),
             .namePublish(let host, let port), .nameOpen(let host, let port):
            ListenAddress(host: host, port: port).description
        case .streamLocalListen(let path), .streamLocalOpen(let path):
            path
        }
    }

    public var description: String { "\(kind) \(target)" }
}

/// The answer to a request, with the reason a human reads in the log.
public enum Decision: Sendable, Hashable {
    /// Granted by `rule` (where it is defined and the pattern that matched).
    case allow(rule: Grant)
    /// Refused, for `reason`.
    case deny(reason: String)

    public var isAllowed: Bool {
        if case .allow = self { return true }
        return false
    }
}
