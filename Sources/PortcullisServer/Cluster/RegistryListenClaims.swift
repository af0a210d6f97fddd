import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import Synchronization

/// A cluster member's claims: each remote listen is claimed in the tunnel registry (etcd) before it
/// is bound, and a second claim of the same path, on this proxy or another, is refused like a live
/// socket on one host, naming the proxy that holds it. Socket paths are claimed relative to
/// socket_root, so that every member's socket_root denotes the same namespace.
public final class RegistryListenClaims: ListenClaims, @unchecked Sendable {
    public let registry: TunnelRegistry
    private let socketRoot: String
    private let sessions: LiveSessionsLink

    /// `hostKey`: the daemon's public host key line, for its member record.
    public init(settings: ClusterSettings, proxyID: String, hostKey: String, socketRoot: String,
                log: @escaping @Sendable (String) -> Void) {
        self.socketRoot = socketRoot.hasSuffix("/") ? socketRoot : socketRoot + "/"
        let sessions = LiveSessionsLink()
        self.sessions = sessions
        registry = TunnelRegistry(
            endpoints: settings.etcdEndpoints, prefix: settings.prefix,
            member: .init(proxyID: proxyID, advertise: settings.advertise ?? "", hostKey: hostKey),
            ttl: Double(settings.leaseTTL),
            sessionCount: { sessions.live?.totals().sessions ?? 0 },
            onFence: { ended, reason in
                // Their listeners stop taking connections at once (`lostReason`); ending the
                // sessions closes them and makes autossh-style clients come back for a new claim.
                for id in ended { _ = sessions.live?.disconnect(id: id, reason: reason) }
            },
            log: log)
    }

    /// The live sessions fencing ends and the member record counts (set once the server exists).
    public func attach(_ live: LiveSessions) {
        sessions.live = live
    }

    /// Registers this proxy (refused if its proxy_id is held by a live one); see `TunnelRegistry.start`.
    public func start() throws {
        try registry.start()
    }

    /// Revokes the lease: the member record and any claim left go at once.
    public func stop() {
        registry.stop()
    }

    /// A listen under socket_root, a TCP listen and a name publish are claimed in etcd.
    public func waitsOnNetwork(_ request: ForwardRequest) -> Bool {
        switch request {
        case .tcpListen, .namePublish: true
        case .streamLocalListen(let path): path.hasPrefix(socketRoot) && path.count > socketRoot.count
        default: false
        }
    }

    public func claim(_ request: ForwardRequest, port: Int?, session: UInt64, key: String) -> ListenClaimDecision {
        let target: ClaimTarget
        switch request {
        case .tcpListen(let host, let requested):
            target = .tcp(host: host, port: port ?? requested)
        case .streamLocalListen(let path):
            // A path outside socket_root is never bound (the bind says why): nothing to claim.
            guard path.hasPrefix(socketRoot), path.count > socketRoot.count else { return .granted(nil) }
            target = .socket(relativePath: String(path.dropFirst(socketRoot.count)))
        case .namePublish(let name, let port):
            return claimName(name, port: port, session: session, key: key)
        default:
            return .granted(nil)
        }
        switch registry.claim(target, session: session, key: key) {
        case .granted(let claim):
            return .granted(Held(claim))
        case .taken(let holder):
            let what = if case .streamLocalListen(let path) = request { path } else { target.description }
            return .refused("\(what) is in use by another session on proxy \"\(holder.proxy)\" "
                            + "(cluster claim \(registry.prefix)\(target.key): session \(holder.session), key \(holder.key))")
        case .unavailable(let reason):
            return .refused(reason)
        }
    }

    /// A name is one per cluster: `names/NAME` under this proxy's lease, so that a second publish
    /// on any proxy is refused naming the holder, and the name goes with the lease if this proxy dies.
    private func claimName(_ name: String, port: Int, session: UInt64, key: String) -> ListenClaimDecision {
        switch registry.claimName(name, session: session, key: key, port: port) {
        case .granted(let claim):
            return .granted(Held(claim))
        case .taken(let holder):
            return .refused("name \(name) is already published by session \(holder.session) (key \(holder.key)) "
                            + "on proxy \"\(holder.proxy)\" (cluster name \(registry.prefix)names/\(name))")
        case .unavailable(let reason):
            return .refused(reason)
        }
    }

    private final class Held: ListenClaim, @unchecked Sendable {
        let claim: TunnelRegistry.Claim
        init(_ claim: TunnelRegistry.Claim) { self.claim = claim }
        var lostReason: String? { claim.lostReason }
        func release() { claim.release() }
    }
}

/// The live sessions, once the server that has them exists.
private final class LiveSessionsLink: Sendable {
    private let value = Mutex<LiveSessions?>(nil)
    var live: LiveSessions? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
