import Foundation

/// What etcd says of a lease: the seconds it has left and the TTL it was granted.
public struct LeaseTimeToLive: Sendable, Equatable {
    public let lease: LeaseID
    /// Seconds until it expires unless renewed.
    public let remaining: Int64
    /// The TTL of its grant (and of each renewal), in seconds.
    public let granted: Int64

    public init(lease: LeaseID, remaining: Int64, granted: Int64) {
        self.lease = lease
        self.remaining = remaining
        self.granted = granted
    }

    /// Seconds since its last renewal (or grant), as far as whole seconds tell.
    public var sinceRenewal: Int64 { max(0, granted - remaining) }
}

extension EtcdClient {
    /// How long `lease` has left; nil if it no longer exists (expired or revoked).
    public func leaseTimeToLive(_ lease: LeaseID) throws -> LeaseTimeToLive? {
        let (answer, _) = try call("/v3/lease/timetolive", ["ID": String(lease.rawValue)], idempotent: true)
        // etcd answers TTL -1 for a lease it does not know; the gateway leaves out a TTL of 0.
        let remaining = GatewayJSON.int(answer, "TTL")
        guard remaining >= 0 else { return nil }
        return LeaseTimeToLive(lease: lease, remaining: remaining, granted: GatewayJSON.int(answer, "grantedTTL"))
    }
}
