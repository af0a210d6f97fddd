import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// The registry as peering reads it from etcd: `claims/socket/REL_PATH`, `names/NAME` and `members/PROXY_ID`
/// under the cluster prefix (JSON values, see docs/cluster-design.md), read fresh for a relay;
/// the member list also kept as a view, followed with a watch, for admitting member links.
final class EtcdPeerDirectory: PeerDirectory, @unchecked Sendable {
    private let client: EtcdClient
    private let prefix: String
    private let lock = NSLock()
    private var members: [PeerMember] = []
    // Under `lock`: what the last read and the watch since say, by proxy id; the revision of that read.
    private var records: [String: Result<PeerMember, RegistryRecordError>] = [:]
    private var readRevision: Int64 = 0
    private var lastProblems: [String] = []
    private var generation: UInt64 = 0
    private var observers: [@Sendable () -> Void] = []
    private let log: DaemonLog

    init(settings: ClusterSettings, log: DaemonLog) throws {
        client = try EtcdClient(endpoints: settings.etcdEndpoints, requestTimeout: 3)
        prefix = settings.prefix
        self.log = log
        let thread = Thread { [self] in follow() }
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

    /// Follows `members/`: a watch applies each change as it happens, and a full read every
    /// `rereadInterval` seconds (which also restarts a watch that ended) corrects whatever a watch
    /// could miss. A failed read keeps the last view (and says so once).
    private func follow() {
        var failing = false
        var watch: EtcdWatch?
        while true {
            do {
                let (kvs, revision) = try client.range(prefix: membersPrefix)
                var read: [String: Result<PeerMember, RegistryRecordError>] = [:]
                for kv in kvs { read[memberID(kv)] = memberRecord(kv) }
                lock.withLock {
                    records = read
                    readRevision = revision
                }
                publish()
                if watch == nil || watch!.isStopped {
                    watch?.cancel()
                    watch = EtcdWatch(client: client, prefix: membersPrefix, fromRevision: revision + 1) { [self] event in
                        let id = memberID(event.kv)
                        lock.withLock {
                            // A change the last full read already shows (or a later one) is not undone.
                            guard event.revision > readRevision else { return }
                            records[id] = event.kind == .delete ? nil : memberRecord(event.kv)
                        }
                        publish()
                    }
                }
                failing = false
            } catch {
                if !failing { log.line("peering: cannot read the member list: \(error)") }
                failing = true
            }
            usleep(Self.rereadInterval)
        }
    }

    /// Microseconds between full reads of `members/`.
    private static let rereadInterval: UInt32 = 5_000_000

    private var membersPrefix: String { prefix + "members/" }

    private func memberID(_ kv: KeyValue) -> String {
        String(decoding: kv.key.dropFirst(membersPrefix.utf8.count), as: UTF8.self)
    }

    private func memberRecord(_ kv: KeyValue) -> Result<PeerMember, RegistryRecordError> {
        Result { () throws(RegistryRecordError) in try member(memberID(kv), kv.value) }
    }

    /// Makes the records the view: observers run and the log says so when the members changed.
    private func publish() {
        let (seen, problems, changed, observers) = lock.withLock { () -> ([PeerMember], [String], Bool, [@Sendable () -> Void]) in
            let seen = records.values.compactMap { try? $0.get() }
            let problems = records.keys.sorted().compactMap { id -> String? in
                if case .failure(let error) = records[id] { return "\(error)" }
                return nil
            }
            let changed = Set(members) != Set(seen)
            let logged = changed || problems != lastProblems
            members = seen
            lastProblems = problems
            if changed { generation &+= 1 }
            return (seen, logged ? problems : [], logged, changed ? self.observers : [])
        }
        // Sessions admitted against the old view are admitted again (a removed member's link ends).
        observers.forEach { $0() }
        if changed {
            log.line("peering: members " + (seen.isEmpty ? "(none)" : seen.map(\.proxyID).sorted().joined(separator: ", "))
                     + (problems.isEmpty ? "" : "; ignored: " + problems.joined(separator: "; ")))
        }
    }

    private func member(_ id: String, _ value: [UInt8]) throws(RegistryRecordError) -> PeerMember {
        let place = "etcd:\(prefix)members/\(id)"
        let record = try MemberRecord.decode(value, place: place)
        do {
            return PeerMember(proxyID: id, advertise: record.advertise, hostKey: try PublicKey(line: record.hostKey))
        } catch {
            throw RegistryRecordError(place: place, reason: "host_key: \(error)")
        }
    }
}
