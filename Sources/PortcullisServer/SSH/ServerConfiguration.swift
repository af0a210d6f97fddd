import PortcullisPolicy

/// How the SSH server listens and behaves; the daemon fills it from its config file.
public struct ServerConfiguration: Sendable {
    /// Addresses to accept SSH connections on, e.g. `127.0.0.1:0` (port 0: the kernel chooses).
    public var listen: [Endpoint]
    /// Paths of the host private keys.
    public var hostKeys: [String]
    /// Seconds from accept to authenticated before the connection is dropped.
    public var loginGraceTime: Int = 30
    /// Failed authentication attempts after which the connection is dropped.
    public var maxAuthTries: Int = 6
    /// Milliseconds to wait for a forward's target to accept a connection.
    public var connectTimeoutMilliseconds: Int32 = 10_000
    /// Every Unix socket the server creates lies under this directory.
    public var socketRoot: String
    /// Mode of the Unix sockets the server creates.
    public var socketMode: UInt32 = 0o600
    /// Event-loop threads that share the sessions; 0: one per core.
    public var workerThreads = 0
    /// The id of the first session; the daemon makes ids unique across its restarts.
    public var firstSessionID: UInt64 = 1
    /// Which addresses a remote TCP listen binds (OpenSSH's GatewayPorts).
    public var gatewayPorts: GatewayPorts = .no
    /// Seconds a host name of a `direct-tcpip` open may take to resolve before the open is refused.
    public var resolveTimeout: Double = 5
    /// The key exchange, cipher, MAC, host key and user signature algorithms offered and accepted.
    public var algorithms: Algorithms = .defaults
    /// Where the server says what goes wrong with itself (descriptors run out, say).
    public var log: OperationalLog = .silent
    /// Admission before authentication: max_startups, the per-source limit, penalties.
    public var admission = StartupAdmission.Settings()
    /// OpenSSH's ClientAliveInterval (seconds; 0: off) and ClientAliveCountMax.
    public var clientAliveInterval = 15
    public var clientAliveCountMax = 3
    /// Where the server counts what it does for `/metrics`; nil: nowhere.
    public var metrics: ServerMetrics?
    /// Cluster mode: relaying opens to the member that holds a socket; nil: a single proxy.
    public var peering: Peering?
    /// Where a remote listen is claimed before it is bound (the cluster's tunnel registry); a
    /// single daemon grants every claim.
    public var listenClaims: any ListenClaims = AlwaysGranted()

    public init(listen: [Endpoint], hostKeys: [String], socketRoot: String) {
        self.listen = listen
        self.hostKeys = hostKeys
        self.socketRoot = socketRoot
    }
}
