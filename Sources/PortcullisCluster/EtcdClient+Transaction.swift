import Foundation

/// One write of a transaction, with the condition it is made under.
public enum GuardedWrite: Sendable, Equatable {
    /// Creates `key` with `value`, only if it does not exist.
    case create(key: [UInt8], value: [UInt8])
    /// Deletes `key`, only if its mod_revision is still `modRevision`.
    case delete(key: [UInt8], modRevision: EtcdRevision)

    public var key: [UInt8] {
        switch self {
        case .create(let key, _), .delete(let key, _): key
        }
    }
}

/// How a transaction came out.
public enum TransactionResult: Sendable, Equatable {
    /// Every write was made, at `revision`.
    case committed(revision: EtcdRevision)
    /// Nothing was written: the first write whose condition failed, and the key's mod_revision
    /// now (0: absent).
    case conflict(key: [UInt8], currentModRevision: EtcdRevision)
}

extension EtcdClient {
    /// The most writes one transaction may carry (etcd's default `--max-txn-ops`).
    public static let maxTransactionWrites = 128

    /// Makes every write of `writes` or none (one etcd transaction): all conditions hold, or
    /// nothing is written and the first conflicting key is named. More than
    /// ``maxTransactionWrites`` is refused before anything is sent.
    public func transact(_ writes: [GuardedWrite]) throws -> TransactionResult {
        guard let first = writes.first else { return .committed(revision: 0) }
        guard writes.count <= Self.maxTransactionWrites else {
            throw EtcdError.badResponse(endpoints[0], "\(writes.count) writes in one transaction; etcd takes at most "
                                        + "\(Self.maxTransactionWrites)")
        }
        var compares: [[String: Any]] = [], successes: [[String: Any]] = [], reads: [[String: Any]] = []
        for write in writes {
            let key = GatewayJSON.base64(write.key)
            switch write {
            case .create(_, let value):
                compares.append(["key": key, "result": "EQUAL", "target": "CREATE", "create_revision": "0"])
                successes.append(["request_put": ["key": key, "value": GatewayJSON.base64(value)]])
            case .delete(_, let modRevision):
                compares.append(["key": key, "result": "EQUAL", "target": "MOD", "mod_revision": String(modRevision)])
                successes.append(["request_delete_range": ["key": key]])
            }
            reads.append(["request_range": ["key": key, "keys_only": true]])
        }
        let (answer, endpoint) = try call("/v3/kv/txn", ["compare": compares, "success": successes, "failure": reads],
                                          idempotent: false)
        if answer["succeeded"] as? Bool == true { return .committed(revision: GatewayJSON.revision(answer)) }
        // Which condition failed: the first write whose key is not as it required.
        let responses = answer["responses"] as? [[String: Any]] ?? []
        for (write, response) in zip(writes, responses) {
            let range = response["response_range"] as? [String: Any]
            let current = try (range?["kvs"] as? [[String: Any]])?.first.map { try GatewayJSON.keyValue($0, endpoint) }
            switch write {
            case .create where current != nil:
                return .conflict(key: write.key, currentModRevision: current!.modRevision)
            case .delete(_, let modRevision) where current?.modRevision != modRevision:
                return .conflict(key: write.key, currentModRevision: current?.modRevision ?? 0)
            default: continue
            }
        }
        return .conflict(key: first.key, currentModRevision: 0)
    }
}
