import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// The registry as peering reads it from etcd: `claims/socket/REL_PATH`, `names/NAME` and `members/PROXY_ID`
/// under the cluster prefix (JSON values, see docs/cluster-design.md), read fresh for a relay;
/// the member list also kept as a view refreshed every half second for admitting member links.
final class EtcdPeerDirectory: PeerDirectory, @unchecked Sendable {
    private let client: EtcdClient
    private let prefix: String
    private let lock = NSLock()
    private var members: [PeerMember] = []
    private var generation: UInt64 = 0
    private var observers: [@Sendable () -> Void] = []
    private let log: DaemonLog

    init(settings: ClusterSettings, log: DaemonLog) throws {
        client = try EtcdClient(endpoints: settings.etcdEndpoints, requestTimeout: 3)
        prefix = settings.prefix
        self.log = log
        let thread = Thread { [self] in refresh() }
        thread.name = "portcullis-members"
        thread.start()
    }

    func socketClaim(_ relativePath: String) throws -> SocketClaim? {
        let key = prefix + "claims/socket/" + relativePath
        guard let value = try client.get(key) else { return nil }
        return SocketClaim(proxy: try ClaimHolder.decode(value.value, place: "etcd:" + key).proxy)
    }

    func nameClaim(_ name: String) throws -> NameClaim? {
        let key = prefix + "names/" + name
        guard let value = try client.get(key) else { return nil }
        let record = try NameRecord.decode(value.value, place: "etcd:" + key)
        return NameClaim(proxy: record.proxy, port: record.port)
    }

    func member(_ proxyID: String) throws -> PeerMember? {
        guard let value = try client.get(prefix + "members/" + proxyID) else { return nil }
        return try member(proxyID, value.value)
    }

    func currentMembers() -> [PeerMember] {
        lock.lock()
        defer { lock.unlock() }
        return members
    }

    var membersGeneration: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return generation
    }

    func observeMembers(_ changed: @escaping @Sendable () -> Void) {
        lock.lock()
        observers.append(changed)
        lock.unlock()
    }

    /// Reads `members/` again and again; a failed read keeps the last view (and says so once).
    private func refresh() {
        var failing = false
        var lastProblems: [String] = []
        while true {
            do {
                let (kvs, _) = try client.range(prefix: prefix + "members/")
                var problems: [String] = []
                let seen = kvs.compactMap { kv -> PeerMember? in
                    let id = String(kv.keyString.dropFirst(prefix.count + "members/".count))
                    do {
                        return try member(id, kv.value)
                    } catch {
                        problems.append("\(error)")
                        return nil
                    }
                }
                lock.lock()
                let changed = Set(members) != Set(seen)
                members = seen
                if changed { generation &+= 1 }
                let observers = changed ? self.observers : []
                lock.unlock()
                // Sessions admitted against the old view are admitted again (a removed member's link ends).
                observers.forEach { $0() }
                if changed || problems != lastProblems {
                    log.line("peering: members " + (seen.isEmpty ? "(none)" : seen.map(\.proxyID).sorted().joined(separator: ", "))
                             + (problems.isEmpty ? "" : "; ignored: " + problems.joined(separator: "; ")))
                    lastProblems = problems
                }
                failing = false
            } catch {
                if !failing { log.line("peering: cannot read the member list: \(error)") }
                failing = true
            }
            usleep(500_000)
        }
    }

    private func member(_ id: String, _ value: [UInt8]) throws -> PeerMember {
        let place = "etcd:\(prefix)members/\(id)"
        let record = try MemberRecord.decode(value, place: place)
        do {
            return PeerMember(proxyID: id, advertise: record.advertise, hostKey: try PublicKey(line: record.hostKey))
        } catch {
            throw RegistryRecordError(place: place, reason: "host_key: \(error)")
        }
    }
}
