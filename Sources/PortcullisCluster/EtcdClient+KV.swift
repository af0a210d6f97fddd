import Foundation

extension EtcdClient {
    /// The key's current value, nil if absent.
    public func get(_ key: String) throws -> KeyValue? { try get(Array(key.utf8)) }

    public func get(_ key: [UInt8]) throws -> KeyValue? {
        let (answer, endpoint) = try call("/v3/kv/range", ["key": GatewayJSON.base64(key)], idempotent: true)
        return try (answer["kvs"] as? [[String: Any]] ?? []).first.map { try GatewayJSON.keyValue($0, endpoint) }
    }

    /// Every key starting with `prefix`, in key order, and the store revision they were read at.
    public func range(prefix: String) throws -> (kvs: [KeyValue], revision: EtcdRevision) {
        try range(prefix: Array(prefix.utf8))
    }

    public func range(prefix: [UInt8]) throws -> (kvs: [KeyValue], revision: EtcdRevision) {
        try range(prefix: prefix, keysOnly: false)
    }

    /// Every key starting with `prefix` with its revisions but no value (empty), in key order, and
    /// the store revision they were read at: what changed, without the cost of reading it.
    public func keys(prefix: String) throws -> (kvs: [KeyValue], revision: EtcdRevision) {
        try range(prefix: Array(prefix.utf8), keysOnly: true)
    }

    private func range(prefix: [UInt8], keysOnly: Bool) throws -> (kvs: [KeyValue], revision: EtcdRevision) {
        var request: [String: Any] = [
            "key": GatewayJSON.base64(prefix), "range_end": GatewayJSON.base64(GatewayJSON.prefixEnd(prefix)),
        ]
        if keysOnly { request["keys_only"] = true }
        let (answer, endpoint) = try call("/v3/kv/range", request, idempotent: true)
        // An answer that is not a range (no revision, kvs that are not key-values) is refused, never
        // taken for an empty one: a policy read from it would have no keys.
        let revision = GatewayJSON.revision(answer)
        guard revision > 0 else { throw EtcdError.badResponse(endpoint, "a range answer without header.revision") }
        let objects: [[String: Any]]
        switch answer["kvs"] {
        case nil: objects = []
        case let list as [Any]:
            let kvs = list.compactMap { $0 as? [String: Any] }
            guard kvs.count == list.count, kvs.allSatisfy({ $0["key"] is String }) else {
                throw EtcdError.badResponse(endpoint, "a range answer whose kvs are not all key-values")
            }
            objects = kvs
        default: throw EtcdError.badResponse(endpoint, "a range answer whose kvs is not a list")
        }
        return (try objects.map { try GatewayJSON.keyValue($0, endpoint) }, revision)
    }

    /// Sets `key` to `value` (attached to `lease`, if given); the revision of the write.
    @discardableResult
    public func put(_ key: String, _ value: String, lease: LeaseID? = nil) throws -> EtcdRevision {
        try put(Array(key.utf8), Array(value.utf8), lease: lease)
    }

    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], lease: LeaseID? = nil) throws -> EtcdRevision {
        let (answer, _) = try call("/v3/kv/put", putRequest(key, value, lease), idempotent: false)
        return GatewayJSON.revision(answer)
    }

    /// Deletes `key`; how many keys were deleted (0 or 1).
    @discardableResult
    public func delete(_ key: String) throws -> Int64 { try delete(Array(key.utf8)) }

    @discardableResult
    public func delete(_ key: [UInt8]) throws -> Int64 {
        let (answer, _) = try call("/v3/kv/deleterange", ["key": GatewayJSON.base64(key)], idempotent: true)
        return GatewayJSON.int(answer, "deleted")
    }

    /// Writes `value` to `key` only if `condition` holds (one etcd transaction). On a conflict the
    /// result carries the key's current value (nil: absent), so the caller can retry from it.
    public func compareAndSwap(_ key: String, _ value: String, if condition: SwapCondition,
                               lease: LeaseID? = nil) throws -> SwapResult {
        try compareAndSwap(Array(key.utf8), Array(value.utf8), if: condition, lease: lease)
    }

    public func compareAndSwap(_ key: [UInt8], _ value: [UInt8], if condition: SwapCondition,
                               lease: LeaseID? = nil) throws -> SwapResult {
        let encodedKey = GatewayJSON.base64(key)
        var compare: [String: Any] = ["key": encodedKey, "result": "EQUAL"]
        switch condition {
        case .absent: compare["target"] = "CREATE"; compare["create_revision"] = "0"
        case let .modRevision(revision): compare["target"] = "MOD"; compare["mod_revision"] = String(revision)
        }
        let (answer, endpoint) = try call("/v3/kv/txn", [
            "compare": [compare],
            "success": [["request_put": putRequest(key, value, lease)]],
            "failure": [["request_range": ["key": encodedKey]]],
        ], idempotent: false)
        let revision = GatewayJSON.revision(answer)
        if answer["succeeded"] as? Bool == true { return .swapped(revision: revision) }
        let responses = answer["responses"] as? [[String: Any]] ?? []
        let range = responses.first?["response_range"] as? [String: Any]
        let current = try (range?["kvs"] as? [[String: Any]])?.first.map { try GatewayJSON.keyValue($0, endpoint) }
        return .conflict(current: current, revision: revision)
    }

    private func putRequest(_ key: [UInt8], _ value: [UInt8], _ lease: LeaseID?) -> [String: Any] {
        var request: [String: Any] = ["key": GatewayJSON.base64(key), "value": GatewayJSON.base64(value)]
        if let lease { request["lease"] = String(lease.rawValue) }
        return request
    }
}
