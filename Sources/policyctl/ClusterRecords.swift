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

/// A claim on a listen, `claims/socket/REL_PATH` or `claims/tcp/HOST:PORT`: who serves it.
struct ClusterClaim: Encodable {
    /// `socket` or `tcp`.
    let kind: String
    /// The socket path relative to socket_root, or `HOST:PORT`.
    let target: String
    let proxy: String
    let key: String
    let session: UInt64
    let since: String
    let lease: String?
}

/// Reads the records the view shows; a value that is not such a record is a ``ClusterRecordError``.
enum ClusterRecords {
    /// The JSON object of a record's value, with the fields the view needs, each checked for its type.
    struct Fields {
        let object: JSONValue
        let place: String

        init(_ kv: KeyValue, place: String) throws(ClusterRecordError) {
            self.place = place
            let value: JSONValue
            do { value = try JSONValue.parse(kv.value) } catch {
                throw ClusterRecordError(place: place, reason: "the value is not JSON: \(error)")
            }
            guard case .object = value else { throw ClusterRecordError(place: place, reason: "the value is not a JSON object") }
            object = value
        }

        func string(_ name: String) throws(ClusterRecordError) -> String {
            guard let value = object[name]?.stringValue else { throw missing(name, "a string") }
            return value
        }

        func count(_ name: String) throws(ClusterRecordError) -> Int64 {
            guard let value = object[name]?.intValue, value >= 0 else { throw missing(name, "a whole number >= 0") }
            return value
        }

        private func missing(_ name: String, _ type: String) -> ClusterRecordError {
            ClusterRecordError(place: place, reason: object[name] == nil ? "no \"\(name)\"" : "\"\(name)\" is not \(type)")
        }
    }

    /// `members/PROXY_ID` read as a member, with `lease` as etcd told it.
    static func member(_ kv: KeyValue, id: String, place: String, lease: LeaseTimeToLive?) throws(ClusterRecordError) -> ClusterMember {
        if let problem = ProxyID.problem(id) {
            throw ClusterRecordError(place: place, reason: "the key's proxy id \"\(id)\" is not one: \(problem)")
        }
        let fields = try Fields(kv, place: place)
        return ClusterMember(proxy: id, advertise: try fields.string("advertise"), hostKey: try fields.string("host_key"),
                             sessions: Int(try fields.count("sessions")), started: try fields.string("started"),
                             lease: lease.map {
                                 ClusterMember.Lease(id: String($0.lease.rawValue), ttlLeft: $0.remaining, grantedTtl: $0.granted,
                                                     renewedAgo: $0.sinceRenewal)
                             })
    }

    /// `claims/KIND/TARGET` read as a claim.
    static func claim(_ kv: KeyValue, kind: String, target: String, place: String) throws(ClusterRecordError) -> ClusterClaim {
        let fields = try Fields(kv, place: place)
        return ClusterClaim(kind: kind, target: target, proxy: try fields.string("proxy"), key: try fields.string("key"),
                            session: UInt64(try fields.count("session")), since: try fields.string("since"),
                            lease: kv.lease.map { String($0.rawValue) })
    }
}

/// A record in etcd that is not what its key says it is: where, and why.
struct ClusterRecordError: Error, CustomStringConvertible {
    /// `etcd:/portcullis/members/proxy-a`.
    let place: String
    let reason: String

    var description: String { "\(place): \(reason)" }
}
