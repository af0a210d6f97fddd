import Foundation

/// A minimal etcd v3 client speaking the v3 JSON gateway (`POST /v3/...`, etcd 3.4's prefix) over
/// HTTP/1.1 on its own TCP sockets; no URLSession, so no libcurl in the static build.
///
/// Endpoints are tried in order: a connection failure moves on to the next one (any failure, for
/// requests that are safe to repeat). Every request has a deadline. Responses are size-limited.
/// `https://` endpoints speak TLS 1.2+ (OpenSSL), verifying etcd against their CA and host name.
public final class EtcdClient: Sendable {
    public let endpoints: [EtcdEndpoint]
    /// Seconds each request (connect, send, answer) may take on one endpoint.
    public let requestTimeout: Double
    /// The largest response body (or streamed message) accepted, in bytes.
    public let maxResponseBytes: Int

    public init(endpoints: [EtcdEndpoint], requestTimeout: Double = 5, maxResponseBytes: Int = 16 << 20) throws {
        guard !endpoints.isEmpty else { throw EtcdError.invalidEndpoint("", "no endpoints given") }
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// Parses each `http://HOST:PORT` or `https://HOST:PORT` (those with `tls`).
    public convenience init(urls: [String], tls: EtcdTLS? = nil, requestTimeout: Double = 5, maxResponseBytes: Int = 16 << 20) throws {
        try self.init(endpoints: urls.map { try EtcdEndpoint(parsing: $0, tls: tls) }, requestTimeout: requestTimeout,
                      maxResponseBytes: maxResponseBytes)
    }

    /// POSTs `body` to `path` on the first endpoint that answers; the decoded JSON answer.
    /// `idempotent`: a timeout or broken answer may also be retried on the next endpoint.
    func call(_ path: String, _ body: [String: Any], idempotent: Bool) throws -> ([String: Any], EtcdEndpoint) {
        var failures: [EtcdError] = []
        let encoded = GatewayJSON.encode(body)
        for endpoint in endpoints {
            do {
                let deadline = Deadline(after: requestTimeout)
                let exchange = try HTTPExchange(endpoint: endpoint, path: path, body: encoded,
                                                limit: maxResponseBytes, deadline: deadline)
                let answer = try exchange.readBody(deadline: deadline)
                guard exchange.status == 200 else {
                    throw GatewayJSON.serverError(endpoint, status: exchange.status, body: answer)
                }
                var object = try GatewayJSON.decode(answer, from: endpoint)
                // Streaming endpoints (lease keepalive) wrap each message in {"result": ...}.
                if let error = object["error"] { throw GatewayJSON.serverError(endpoint, status: 200, body: GatewayJSON.encode(["error": error])) }
                if let result = object["result"] as? [String: Any] { object = result }
                return (object, endpoint)
            } catch let error as EtcdError {
                let retry: Bool
                switch error {
                case .unreachable: retry = true
                case .timedOut, .badResponse: retry = idempotent
                case .server(_, let status, _, _): retry = idempotent && status >= 502
                default: retry = false
                }
                guard retry else { throw error }
                failures.append(error)
            }
        }
        throw failures.count == 1 ? failures[0] : EtcdError.allEndpointsFailed(failures)
    }
}
