/// Everything the config file (and its keys_dir) says, validated.
public struct PolicyConfig: Sendable, Hashable {
    /// Addresses the SSH server accepts on.
    public var listen: [ListenAddress]
    /// Host private key paths.
    public var hostKeys: [String]
    /// Every Unix socket the daemon creates lies below it. Absolute, normalised.
    public var socketRoot: String
    /// Mode of created sockets.
    public var socketMode: UInt32
    public var gatewayPorts: GatewayPorts
    /// Whether explicit listens on ports below 1024 may be granted at all.
    public var allowPrivilegedPorts: Bool
    /// Whether a name may be published that is also a host name the daemon can resolve
    /// (`names_may_shadow_hosts`; off: such a publish is refused, so a name never hides a host).
    public var namesMayShadowHosts = false
    /// The keys directory, resolved to an absolute path; nil if not configured.
    public var keysDir: String?
    /// Absolute path of the audit log; nil when auditing is switched off (`audit_log: off`).
    public var auditLog: String?
    /// Whether audit records also go to syslog.
    public var auditSyslog: Bool
    public var limits: Limits
    /// The SSH algorithms offered and accepted (the `algorithms` mapping narrows the defaults).
    public var algorithms: Algorithms = .defaults
    /// All keys, main file first, then keys_dir files in name order.
    public var keys: [KeyEntry]
    /// Every file read, main file first.
    public var files: [String]
    /// Lowercase hex SHA-256 over the files' names and contents, to tell configurations apart.
    public var digest: String
    /// The control socket `policyctl` talks to; nil: none (`control_socket: off`).
    public var controlSocket: String? = PolicyConfig.defaultControlSocket
    /// The group the control socket is given to (mode 0660 instead of 0600); nil: none.
    public var controlGroup: String?
    /// Where Prometheus metrics are served (`/metrics`); nil: nowhere (the default).
    public var metricsListen: ListenAddress?
    /// Whether metrics also carry per-key labels (off by default: cardinality, privacy).
    public var metricsPerKey = false
    /// The account the daemon drops to once it has bound its sockets (`user:`, `group:`); nil:
    /// it runs as whoever started it.
    public var serviceAccount: ServiceAccount?
    /// The name this proxy goes by on audit records and in the cluster (`proxy_id`; default: the host name).
    public var proxyID = ProxyID.hostName()
    /// Cluster mode (`cluster:`): key entries come from etcd; nil: a single proxy, keys from the file.
    public var cluster: ClusterSettings?
    /// Where `listen` and `host_keys` entries were written, for the start checks to name.
    public var locations = SettingLocations()

    public init(
        listen: [ListenAddress] = PolicyConfig.defaultListen, hostKeys: [String], socketRoot: String,
        socketMode: UInt32 = 0o600, gatewayPorts: GatewayPorts = .no, allowPrivilegedPorts: Bool = false,
        keysDir: String? = nil, auditLog: String? = PolicyConfig.defaultAuditLog, auditSyslog: Bool = false, limits: Limits = Limits(),
        keys: [KeyEntry] = [], files: [String] = [], digest: String = ""
    ) {
        self.listen = listen
        self.hostKeys = hostKeys
        self.socketRoot = socketRoot
        self.socketMode = socketMode
        self.gatewayPorts = gatewayPorts
        self.allowPrivilegedPorts = allowPrivilegedPorts
        self.keysDir = keysDir
        self.auditLog = auditLog
        self.auditSyslog = auditSyslog
        self.limits = limits
        self.keys = keys
        self.files = files
        self.digest = digest
    }

    /// Where the audit log goes unless `audit_log` says otherwise.
    public static let defaultAuditLog = "/var/log/portcullis/audit.jsonl"

    /// Where the control socket is unless `control_socket` says otherwise.
    public static let defaultControlSocket = "/run/portcullis/control.sock"

    /// `0.0.0.0:22` and `[::]:22`.
    public static let defaultListen = [ListenAddress(host: "0.0.0.0", port: 22), ListenAddress(host: "::", port: 22)]
}
