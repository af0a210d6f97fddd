/// One etcd client URL, `http://HOST:PORT` or `https://HOST:PORT` (then with its TLS settings).
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16
    /// The TLS settings of an `https://` endpoint; nil: plain `http://`.
    public let tls: EtcdTLS?

    public init(host: String, port: UInt16, tls: EtcdTLS? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// Parses `http://HOST:PORT` or `https://HOST:PORT` (an IPv6 host in brackets); https needs
    /// `tls` (its CA at least) and http refuses it. Anything else is an `EtcdError.invalidEndpoint`.
    public init(parsing url: String, tls: EtcdTLS? = nil) throws {
        let scheme: String
        if url.hasPrefix("https://") {
            guard tls != nil else { throw EtcdError.invalidEndpoint(url, "https needs a CA certificate (tls_ca)") }
            scheme = "https://"
        } else if url.hasPrefix("http://") {
            guard tls == nil else { throw EtcdError.invalidEndpoint(url, "TLS settings given for an http:// endpoint") }
            scheme = "http://"
        } else {
            throw EtcdError.invalidEndpoint(url, "expected http://HOST:PORT or https://HOST:PORT")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring, portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw EtcdError.invalidEndpoint(url, "expected \(scheme)[IPV6]:PORT")
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
        self.init(host: String(host), port: port, tls: tls)
    }

    /// `HOST:PORT`, an IPv6 host in brackets: the URL's authority, and the HTTP Host header.
    public var authority: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public var description: String {
        "\(tls == nil ? "http" : "https")://\(authority)"
    }
}
