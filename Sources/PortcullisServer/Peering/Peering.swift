import CLibSSH
import Foundation
import PortcullisPolicy

/// Relaying between the proxies of a cluster: an open on this proxy for a socket another member
/// holds goes to that member over one SSH link per member pair, made on first use, on which every
/// relayed channel is multiplexed.
public final class Peering: @unchecked Sendable {
    /// This proxy's id: the user name on its links, and how its own claims are told apart.
    public let proxyID: String
    public let directory: any PeerDirectory
    /// This proxy's host key, the identity it authenticates with on a link.
    let identity: LinkIdentity
    /// Seconds a link may take to connect and authenticate.
    public var connectTimeout = 5
    private let lock = NSLock()
    private var links: [String: PeerLink] = [:]
    private var stopped = false
    /// Lookups wait on etcd and link opens on a member: off the loops and the global queues.
    private let lookups = BlockingQueues(label: "portcullis-peering-lookup")
    private var lookupsStarted: UInt64 = 0

    /// Loads the private host key at `hostKeyPath` now (before any drop of privileges).
    public init(proxyID: String, directory: any PeerDirectory, hostKeyPath: String) throws {
        self.proxyID = proxyID
        self.directory = directory
        self.identity = try LinkIdentity(path: hostKeyPath)
        directory.observeMembers { [weak self] in self?.membersChanged() }
    }

    /// How an open for a socket under socket_root goes.
    enum Outcome: @unchecked Sendable {
        /// Nobody else holds it (no claim, or this proxy's): opened here, as on a single proxy.
        case local
        /// Relayed to `peer`: `fd` is this side of the relay (a socket pair), `end` its signals.
        case relayed(fd: Int32, end: RelayEnd, peer: String)
        /// Not carried out; `peer` when a holder was known.
        case failed(reason: String, peer: String?)
    }

    /// Finds who holds `relativePath` and, if another member does, opens it there with
    /// `correlation`; `completion` runs on another thread.
    func open(relativePath: String, correlation: String, completion: @escaping @Sendable (Outcome) -> Void) {
        nextLookupQueue().async { [self] in
            let claim: SocketClaim?
            do {
                claim = try directory.socketClaim(relativePath)
            } catch {
                completion(.failed(reason: "the cluster registry is unreachable: \(error)", peer: nil))
                return
            }
            guard let claim, claim.proxy != proxyID else {
                completion(.local)
                return
            }
            link(to: claim.proxy).open(relativePath: relativePath, correlation: correlation, completion: completion)
        }
    }

    /// Reads who publishes `name` (off the loop); `completion` runs on another thread.
    func lookupName(_ name: String, completion: @escaping @Sendable (Result<NameClaim?, any Error>) -> Void) {
        nextLookupQueue().async { [self] in
            completion(Result { try directory.nameClaim(name) })
        }
    }

    /// Opens `name:port` on `proxy`, which publishes it: a `direct-tcpip` on the member link whose
    /// host is the name and whose originator is `correlation`.
    func openName(_ name: String, port: Int, on proxy: String, correlation: String,
                  completion: @escaping @Sendable (Outcome) -> Void) {
        nextLookupQueue().async { [self] in
            link(to: proxy).open(relativePath: name, correlation: correlation, port: port, completion: completion)
        }
    }

    /// The member view changed: a link to a proxy that is no longer a member ends (its lease
    /// expired: it is dead, stopped or cut off from etcd), its channels failing with the reason,
    /// rather than waiting on a connection nobody may answer.
    func membersChanged() {
        let members = Set(directory.currentMembers().map(\.proxyID))
        let departed = lock.withLock { links.values.filter { !members.contains($0.proxy) } }
        for link in departed {
            link.stop(reason: "proxy \(link.proxy) unreachable: it left the cluster (members/\(link.proxy) is gone)")
        }
    }

    /// The daemon is stopping: every link ends ("this proxy is stopping"), and no new one is made.
    /// Waits until each link's thread has closed its session, at most `timeout` seconds; returns
    /// whether all did.
    @discardableResult
    public func stop(timeout: TimeInterval = 5) -> Bool {
        let current = lock.withLock { () -> [PeerLink] in
            stopped = true
            return Array(links.values)
        }
        current.forEach { $0.stop() }
        let deadline = Date().addingTimeInterval(timeout)
        return current.allSatisfy { $0.waitUntilEnded(deadline: deadline) }
    }

    /// The queue for the next lookup, in turn.
    private func nextLookupQueue() -> DispatchQueue {
        lock.withLock {
            lookupsStarted &+= 1
            return lookups.queue(for: lookupsStarted)
        }
    }

    /// The link to `proxy`, made now if there is none or the last one died.
    private func link(to proxy: String) -> PeerLink {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return PeerLink(proxy: proxy, peering: self, deadReason: "this proxy is stopping") }
        if let link = links[proxy], !link.isDead { return link }
        let link = PeerLink(proxy: proxy, peering: self)
        links[proxy] = link
        link.start()
        return link
    }
}

/// A private key libssh loaded, used on the links' threads.
final class LinkIdentity: @unchecked Sendable {
    let key: OpaquePointer

    init(path: String) throws {
        var key: OpaquePointer?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw ServerError(description: "peering: cannot read the host key \(path)")
        }
        self.key = key
    }

    deinit {
        ssh_key_free(key)
    }
}
