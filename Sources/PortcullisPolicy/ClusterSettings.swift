/// The `cluster:` mapping: where the etcd cluster is and how this proxy takes part in it.
/// Present only in cluster mode; then the key entries come from etcd, never from the file.
public struct ClusterSettings: Sendable, Hashable {
    /// One etcd client URL, split: `http://HOST:PORT` (an IPv6 host written in brackets).
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public let host: String
        public let port: UInt16

        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }
    }

    /// The etcd client endpoints, tried in order (at least one).
    public var etcd: [Endpoint]
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
                snapshot: String = ClusterSettings.defaultSnapshot) {
        self.etcd = etcd
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
