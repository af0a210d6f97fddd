/// One etcd client URL, `http://HOST:PORT`.
///
/// Only plain `http://` is supported for now; `https://` (with tls_cert / tls_key / tls_ca for
/// mutual TLS) is the next step and is refused here rather than silently downgraded.
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `http://HOST:PORT` (an IPv6 host in brackets); anything else is an `EtcdError.invalidEndpoint`.
    public init(parsing url: String) throws {
        let scheme = "http://"
        guard url.hasPrefix(scheme) else {
            let reason = url.hasPrefix("https://") ? "https is not supported yet (http:// only)"
                                                   : "expected http://HOST:PORT"
            throw EtcdError.invalidEndpoint(url, reason)
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring, portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw EtcdError.invalidEndpoint(url, "expected http://[IPV6]:PORT")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw EtcdError.invalidEndpoint(url, "missing :PORT")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains("/") else { throw EtcdError.invalidEndpoint(url, "missing or bad host") }
        guard let port = UInt16(portText), port > 0 else {
            throw EtcdError.invalidEndpoint(url, "port must be 1-65535")
        }
        self.init(host: String(host), port: port)
    }

    public var description: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
