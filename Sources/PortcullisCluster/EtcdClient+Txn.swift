import Foundation

extension EtcdClient {
    /// Deletes `key` only if its mod_revision is still `revision` (one etcd transaction): a record
    /// this client wrote is removed, never one written over it since. Whether it was deleted.
    @discardableResult
    public func delete(_ key: String, ifModRevision revision: EtcdRevision) throws -> Bool {
        let encodedKey = GatewayJSON.base64(Array(key.utf8))
        let (answer, _) = try call("/v3/kv/txn", [
            "compare": [["key": encodedKey, "result": "EQUAL", "target": "MOD", "mod_revision": String(revision)]],
            "success": [["request_delete_range": ["key": encodedKey]]],
        ], idempotent: true)
        return answer["succeeded"] as? Bool == true
    }
}
