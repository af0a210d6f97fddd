import Foundation

extension EtcdClient {
    /// A new lease that expires `ttl` seconds after its last keepalive.
    public func grantLease(ttl: Int64) throws -> LeaseID {
        let (answer, endpoint) = try call("/v3/lease/grant", ["TTL": String(ttl)], idempotent: false)
        if let error = answer["error"] as? String, !error.isEmpty {
            throw EtcdError.server(endpoint, status: 200, code: nil, message: error)
        }
        let id = GatewayJSON.int(answer, "ID")
        guard id != 0 else { throw EtcdError.badResponse(endpoint, "lease grant without an ID") }
        return LeaseID(id)
    }

    /// Renews `lease` once (a caller loops, well within the TTL); the TTL granted, in seconds.
    /// Throws `EtcdError.server` if the lease no longer exists.
    @discardableResult
    public func keepAlive(_ lease: LeaseID) throws -> Int64 {
        let (answer, endpoint) = try call("/v3/lease/keepalive", ["ID": String(lease.rawValue)], idempotent: true)
        let ttl = GatewayJSON.int(answer, "TTL")
        guard ttl > 0 else { throw EtcdError.server(endpoint, status: 200, code: 5, message: "lease \(lease) not found") }
        return ttl
    }

    /// Ends `lease` now, deleting every key attached to it.
    public func revoke(_ lease: LeaseID) throws {
        _ = try call("/v3/lease/revoke", ["ID": String(lease.rawValue)], idempotent: true)
    }
}
