import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// The registry as peering reads it from etcd: `claims/socket/REL_PATH`, `names/NAME` and
/// `members/PROXY_ID` under the cluster prefix (JSON values, see docs/cluster-design.md). A
/// socket's claim is read fresh for each relay; the members and the names are followed in memory
/// (``EtcdFollower``), so that admitting a member link and looking up a name never wait for etcd,
/// and a client opening names that are not published costs etcd nothing.
final class EtcdPeerDirectory: PeerDirectory, @unchecked Sendable {
    private let client: EtcdClient
    private let prefix: String
    private let lock = NSLock()
    // Under `lock`: the member view, what was wrong with the records left out of it, its generation.
    private var members: [PeerMember] = []
    private var lastProblems: [String] = []
    private var generation: UInt64 = 0
    private var observers: [@Sendable () -> Void] = []
    private let log: DaemonLog
    private var memberFollower: EtcdFollower<PeerMember>!
    private var nameFollower: EtcdFollower<NameRecord>!

    init(settings: ClusterSettings, log: DaemonLog) throws {
        client = try EtcdClient(endpoints: settings.etcdEndpoints, requestTimeout: 3)
        prefix = settings.prefix
        self.log = log
        let membersPrefix = prefix + "members/"
        memberFollower = EtcdFollower(
            client: client, prefix: membersPrefix,
            decode: { id, kv in Result { () throws(RegistryRecordError) in try Self.member(id, kv.value, place: "etcd:\(membersPrefix)\(id)") } },
            changed: { [weak self] records in self?.membersChanged(records) },
            readFailed: { [log] error in
                if let error { log.line("peering: cannot read the member list: \(error)") }
            })
        let namesPrefix = prefix + "names/"
        nameFollower = EtcdFollower(
            client: client, prefix: namesPrefix,
            decode: { id, kv in Result { () throws(RegistryRecordError) in try NameRecord.decode(kv.value, place: "etcd:\(namesPrefix)\(id)") } },
            changed: { _ in })
    }

    func socketClaim(_ relativePath: String) throws -> SocketClaim? {
        let key = prefix + "claims/socket/" + relativePath
        guard let value = try client.get(key) else { return nil }
        return SocketClaim(proxy: try ClaimHolder.decode(value.value, place: "etcd:" + key).proxy)
    }

    /// From the followed names once they have been read; until then, read fresh.
    func nameClaim(_ name: String) throws -> NameClaim? {
        let record: NameRecord
        if let names = nameFollower.records {
            guard let known = names[name] else { return nil }
            record = try known.get()
        } else {
            let key = prefix + "names/" + name
            guard let value = try client.get(key) else { return nil }
            record = try NameRecord.decode(value.value, place: "etcd:" + key)
        }
        return NameClaim(proxy: record.proxy, port: record.port)
    }

    func member(_ proxyID: String) throws -> PeerMember? {
        let key = prefix + "members/" + proxyID
        guard let value = try client.get(key) else { return nil }
        return try Self.member(proxyID, value.value, place: "etcd:" + key)
    }

    func currentMembers() -> [PeerMember] {
        lock.withLock { members }
    }

    var membersGeneration: UInt64 {
        lock.withLock { generation }
    }

    func observeMembers(_ changed: @escaping @Sendable () -> Void) {
        lock.withLock { observers.append(changed) }
    }

    /// A new state of `members/`: observers run and the log says so when the members changed.
    private func membersChanged(_ records: EtcdFollower<PeerMember>.Records) {
        let seen = records.values.compactMap { try? $0.get() }
        let problems = records.keys.sorted().compactMap { id -> String? in
            if case .failure(let error) = records[id] { return "\(error)" }
            return nil
        }
        let (changed, logged, observers) = lock.withLock { () -> (Bool, Bool, [@Sendable () -> Void]) in
            let changed = Set(members) != Set(seen)
            let logged = changed || problems != lastProblems
            members = seen
            lastProblems = problems
            if changed { generation &+= 1 }
            return (changed, logged, changed ? self.observers : [])
        }
        // Sessions admitted against the old view are admitted again (a removed member's link ends).
        if changed { observers.forEach { $0() } }
        if logged {
            log.line("peering: members " + (seen.isEmpty ? "(none)" : seen.map(\.proxyID).sorted().joined(separator: ", "))
                     + (problems.isEmpty ? "" : "; ignored: " + problems.joined(separator: "; ")))
        }
    }

    private static func member(_ id: String, _ value: [UInt8], place: String) throws(RegistryRecordError) -> PeerMember {
        let record = try MemberRecord.decode(value, place: place)
        do {
            return PeerMember(proxyID: id, advertise: record.advertise, hostKey: try PublicKey(line: record.hostKey))
        } catch {
            throw RegistryRecordError(place: place, reason: "host_key: \(error)")
        }
    }
}
