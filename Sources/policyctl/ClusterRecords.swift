import Foundation
import PortcullisAudit
import PortcullisCluster
import PortcullisPolicy

/// A member of the cluster as `members/PROXY_ID` says (docs/cluster-design.md), with its lease.
struct ClusterMember: Encodable {
    /// How long the member's lease has left, as etcd says when asked.
    struct Lease: Encodable {
        let id: String
        /// Seconds until it expires unless renewed.
        let ttlLeft: Int64
        let grantedTtl: Int64
        /// Seconds since its last renewal (the lease age).
        let renewedAgo: Int64
    }

    let proxy: String
    let advertise: String
    let hostKey: String
    let sessions: Int
    let started: String
    /// nil: the record has no lease (it will not vanish with its proxy), or the lease just ended.
    let lease: Lease?
}

/// A claim on a listen, `claims/socket/REL_PATH` or `claims/tcp/HOST:PORT`, or a published name,
/// `names/NAME`: who serves it.
struct ClusterClaim: Encodable {
    /// `socket`, `tcp` or `name`.
    let kind: String
    /// The socket path relative to socket_root, `HOST:PORT`, or the name.
    let target: String
    /// A name's port (what it was published with); nil for a listen.
    let port: Int?
    let proxy: String
    let key: String
    let session: UInt64
    /// When the listen was claimed; nil for a name (its record does not say).
    let since: String?
    let lease: String?

    /// What the table shows: a name as `NAME:PORT`, as a consumer opens it.
    var shownTarget: String { port.map { "\(target):\($0)" } ?? target }
}

/// Reads the records the view shows with the registry's own record types; a value that is not
/// such a record is a ``RegistryRecordError``.
enum ClusterRecords {
    /// `members/PROXY_ID` read as a member, with `lease` as etcd told it.
    static func member(_ kv: KeyValue, id: String, place: String, lease: LeaseTimeToLive?) throws(RegistryRecordError) -> ClusterMember {
        if let problem = ProxyID.problem(id) {
            throw RegistryRecordError(place: place, reason: "the key's proxy id \"\(id)\" is not one: \(problem)")
        }
        let record = try MemberRecord.decode(kv.value, place: place)
        return ClusterMember(proxy: id, advertise: record.advertise, hostKey: record.hostKey, sessions: record.sessions,
                             started: record.started,
                             lease: lease.map {
                                 ClusterMember.Lease(id: String($0.lease.rawValue), ttlLeft: $0.remaining, grantedTtl: $0.granted,
                                                     renewedAgo: $0.sinceRenewal)
                             })
    }

    /// `claims/KIND/TARGET` read as a claim.
    static func claim(_ kv: KeyValue, kind: String, target: String, place: String) throws(RegistryRecordError) -> ClusterClaim {
        let holder = try ClaimHolder.decode(kv.value, place: place)
        return ClusterClaim(kind: kind, target: target, port: nil, proxy: holder.proxy, key: holder.key, session: holder.session,
                            since: holder.since, lease: kv.lease.map { String($0.rawValue) })
    }

    /// `names/NAME` read as a published name.
    static func name(_ kv: KeyValue, name: String, place: String) throws(RegistryRecordError) -> ClusterClaim {
        let record = try NameRecord.decode(kv.value, place: place)
        return ClusterClaim(kind: "name", target: name, port: record.port, proxy: record.proxy, key: record.key,
                            session: record.session, since: nil, lease: kv.lease.map { String($0.rawValue) })
    }
}
