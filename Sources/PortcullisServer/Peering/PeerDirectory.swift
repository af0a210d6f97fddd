import PortcullisPolicy

/// Who holds which socket and how to reach each proxy: the cluster's registry as peering reads
/// it (`claims/socket/REL_PATH` and `members/PROXY_ID` in etcd). A small lookup protocol, so that
/// the registry's own table can stand behind it.
public protocol PeerDirectory: Sendable {
    /// The claim on the socket `relativePath` (relative to socket_root), read fresh; nil: none.
    /// Called off the event loops (it may wait for etcd).
    func socketClaim(_ relativePath: String) throws -> SocketClaim?
    /// The record of the published name `name`, read fresh; nil: not published. Off the loops.
    func nameClaim(_ name: String) throws -> NameClaim?
    /// The member record of `proxyID`, read fresh; nil: not a current member.
    func member(_ proxyID: String) throws -> PeerMember?
    /// The current members as last seen (a view refreshed in the background): what a member link
    /// is admitted against. Called on the event loops, so it never waits.
    func currentMembers() -> [PeerMember]
    /// Bumped each time the member view changes, so that the member links admitted against the
    /// old view are checked again (a member whose record went loses its link).
    var membersGeneration: UInt64 { get }
    /// Calls `changed` (on any thread) each time the member view changes.
    func observeMembers(_ changed: @escaping @Sendable () -> Void)
}

extension PeerDirectory {
    /// A directory whose member view never changes.
    public var membersGeneration: UInt64 { 0 }

    public func observeMembers(_ changed: @escaping @Sendable () -> Void) {}
}

extension PeerDirectory {
    /// A directory that knows no names (a single daemon's): every name is unpublished elsewhere.
    public func nameClaim(_ name: String) throws -> NameClaim? { nil }
}

/// `names/NAME`: the proxy whose session publishes a name, and the port it was published with.
public struct NameClaim: Sendable, Hashable {
    public let proxy: String
    public let port: Int
    public init(proxy: String, port: Int) {
        self.proxy = proxy
        self.port = port
    }
}

/// `claims/socket/REL_PATH`: the proxy serving a socket path.
public struct SocketClaim: Sendable, Hashable {
    public let proxy: String
    public init(proxy: String) { self.proxy = proxy }
}

/// `members/PROXY_ID`: a proxy taking part in the cluster.
public struct PeerMember: Sendable, Hashable {
    public let proxyID: String
    /// Where the other members reach it (`host:port`).
    public let advertise: String
    /// Its host key, an OpenSSH public key line: what it authenticates with on a member link, and
    /// what it must present as a server.
    public let hostKey: PublicKey

    public init(proxyID: String, advertise: String, hostKey: PublicKey) {
        self.proxyID = proxyID
        self.advertise = advertise
        self.hostKey = hostKey
    }
}
