/// The `cluster:` mapping: where the etcd cluster is and how this proxy takes part in it.
/// Present only in cluster mode; then the key entries come from etcd, never from the file.
public struct ClusterSettings: Sendable, Hashable {
    /// One etcd client URL, split: `http://HOST:PORT` or `https://HOST:PORT` (an IPv6 host written in brackets).
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public enum Scheme: String, Sendable, Hashable { case http, https }
        public let scheme: Scheme
        public let host: String
        public let port: UInt16

        public init(scheme: Scheme = .http, host: String, port: UInt16) {
            self.scheme = scheme
            self.host = host
            self.port = port
        }

        public var description: String {
            host.contains(":") ? "\(scheme.rawValue)://[\(host)]:\(port)" : "\(scheme.rawValue)://\(host):\(port)"
        }
    }

    /// TLS to etcd (`tls_ca`, `tls_cert`, `tls_key`): absolute file paths, each readable when loaded.
    public struct TLS: Sendable, Hashable {
        /// The CA certificate(s) that signed etcd's server certificate: the only ones trusted.
        public let caFile: String
        /// This proxy's client certificate and its key, for etcd's client-certificate auth; nil: none.
        public let client: ClientCertificate?

        public struct ClientCertificate: Sendable, Hashable {
            public let certFile: String
            public let keyFile: String
            public init(certFile: String, keyFile: String) {
                self.certFile = certFile
                self.keyFile = keyFile
            }
        }

        public init(caFile: String, client: ClientCertificate? = nil) {
            self.caFile = caFile
            self.client = client
        }
    }

    /// The etcd client endpoints, tried in order (at least one; all http or all https).
    public var etcd: [Endpoint]
    /// Set exactly when the endpoints are https.
    public var tls: TLS?
    /// Every key Portcullis reads or writes lies below it; starts and ends with `/`.
    public var prefix: String
    /// Seconds this proxy's lease lives without a keep-alive: its claims vanish that long after it dies.
    public var leaseTTL: Int
    /// Where the other members reach this proxy (`host:port`); nil: not said (no relays to it).
    public var advertise: String?
    /// Where the last good policy read from etcd is kept, to start from during an outage.
    public var snapshot: String

    public init(etcd: [Endpoint], prefix: String = ClusterSettings.defaultPrefix,
                leaseTTL: Int = ClusterSettings.defaultLeaseTTL, advertise: String? = nil,
                snapshot: String = ClusterSettings.defaultSnapshot, tls: TLS? = nil) {
        self.etcd = etcd
        self.tls = tls
        self.prefix = prefix
        self.leaseTTL = leaseTTL
        self.advertise = advertise
        self.snapshot = snapshot
    }

    public static let defaultPrefix = "/portcullis/"
    public static let defaultLeaseTTL = 10
    public static let defaultSnapshot = "/var/lib/portcullis/policy.snapshot"
    /// etcd's own floor for a lease TTL (3/2 of its election timeout, rounded up) with default timings.
    public static let leaseTTLRange = 2...3600
}
