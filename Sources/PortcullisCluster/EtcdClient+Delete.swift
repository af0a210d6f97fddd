import Foundation

extension EtcdClient {
    /// Deletes `key` only if its mod_revision is still `modRevision` (one etcd transaction). On a
    /// conflict the result carries the key's current value (nil: already gone).
    public func compareAndDelete(_ key: String, modRevision: EtcdRevision) throws -> SwapResult {
        let encodedKey = GatewayJSON.base64(Array(key.utf8))
        let (answer, endpoint) = try call("/v3/kv/txn", [
            "compare": [["key": encodedKey, "result": "EQUAL", "target": "MOD", "mod_revision": String(modRevision)]],
            "success": [["request_delete_range": ["key": encodedKey]]],
            "failure": [["request_range": ["key": encodedKey]]],
        ], idempotent: false)
        let revision = GatewayJSON.revision(answer)
        if answer["succeeded"] as? Bool == true { return .swapped(revision: revision) }
        let responses = answer["responses"] as? [[String: Any]] ?? []
        let range = responses.first?["response_range"] as? [String: Any]
        let current = try (range?["kvs"] as? [[String: Any]])?.first.map { try GatewayJSON.keyValue($0, endpoint) }
        return .conflict(current: current, revision: revision)
    }
}
