/// What went wrong talking to etcd; every case names the endpoint involved.
public enum EtcdError: Error, Sendable, CustomStringConvertible {
    /// A configured endpoint URL that cannot be used, and why.
    case invalidEndpoint(String, String)
    /// The TCP connection could not be made (refused, unreachable, or no answer before the deadline).
    case unreachable(EtcdEndpoint, String)
    /// Connected, but the request did not complete before its deadline.
    case timedOut(EtcdEndpoint, String)
    /// etcd answered with an error: the HTTP status, the gRPC code if given, and etcd's own message.
    case server(EtcdEndpoint, status: Int, code: Int?, message: String)
    /// The answer was not HTTP/JSON as the v3 gateway speaks it.
    case badResponse(EtcdEndpoint, String)
    /// The answer (or one streamed message) was larger than the client's limit; it was not read.
    case responseTooLarge(EtcdEndpoint, limit: Int)
    /// Every endpoint failed; the errors, one per endpoint tried, in order.
    case allEndpointsFailed([EtcdError])
    /// A watch was stopped because etcd compacted the revisions it still needed.
    case compacted(EtcdEndpoint, compactRevision: Int64)

    public var description: String {
        switch self {
        case let .invalidEndpoint(url, reason): return "invalid etcd endpoint \"\(url)\": \(reason)"
        case let .unreachable(endpoint, reason): return "etcd \(endpoint): cannot connect: \(reason)"
        case let .timedOut(endpoint, what): return "etcd \(endpoint): timed out \(what)"
        case let .server(endpoint, status, code, message):
            return "etcd \(endpoint): HTTP \(status)\(code.map { " (gRPC code \($0))" } ?? ""): \(message)"
        case let .badResponse(endpoint, reason): return "etcd \(endpoint): bad response: \(reason)"
        case let .responseTooLarge(endpoint, limit):
            return "etcd \(endpoint): response larger than the \(limit)-byte limit, refused"
        case let .allEndpointsFailed(errors):
            return "all etcd endpoints failed: " + errors.map(\.description).joined(separator: "; ")
        case let .compacted(endpoint, revision):
            return "etcd \(endpoint): watch revision compacted (oldest available \(revision))"
        }
    }

    /// Whether the request never reached etcd, so another endpoint may safely be tried.
    var isConnectFailure: Bool {
        if case .unreachable = self { return true }
        return false
    }
}
