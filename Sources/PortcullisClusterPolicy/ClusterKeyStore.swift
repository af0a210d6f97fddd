import Foundation
import PortcullisCluster
import PortcullisPolicy

/// The key entries under `PREFIX/keys/` in etcd: read at one revision, and written only with a
/// compare-and-swap on the revision they were read at (no lost update between two writers).
public struct ClusterKeyStore: Sendable {
    public let client: EtcdClient
    /// The cluster prefix (`/portcullis/`).
    public let prefix: String

    public init(client: EtcdClient, prefix: String) {
        self.client = client
        self.prefix = prefix
    }

    /// `PREFIX/keys/`.
    public var directory: String { ClusterKeys.directory(prefix: prefix) }

    /// Every key entry, and the store revision they were read at (one linearizable range read).
    public func read() throws -> (documents: [KeyDocument], revision: Int64) {
        let (kvs, revision) = try client.range(prefix: directory)
        return (kvs.map(document), revision)
    }

    /// The document a stored key-value is (its name: the key after `PREFIX/keys/`).
    public func document(_ kv: KeyValue) -> KeyDocument {
        let name = String(kv.keyString.dropFirst(directory.count))
        return KeyDocument(name: name, origin: KeyDocument.etcdOrigin(prefix: prefix, name: name), bytes: kv.value,
                           modRevision: kv.modRevision)
    }

    /// The name of the entry `key` holds, or nil if `key` is not under `PREFIX/keys/`.
    public func name(ofKey key: [UInt8]) -> String? {
        let text = String(decoding: key, as: UTF8.self)
        return text.hasPrefix(directory) ? String(text.dropFirst(directory.count)) : nil
    }

    /// What a write found.
    public enum WriteResult: Sendable, Equatable {
        /// Written, at this store revision.
        case written(revision: Int64)
        /// Someone else changed the entry since it was read: its mod_revision now (0: absent).
        case conflict(currentRevision: Int64)
    }

    /// Creates `name` only if it does not exist (create_revision == 0).
    public func create(_ name: String, _ bytes: [UInt8]) throws -> WriteResult {
        result(try client.compareAndSwap(Array(ClusterKeys.keyPath(prefix: prefix, name: name).utf8), bytes, if: .absent))
    }

    /// Replaces `name` only if its mod_revision is still `modRevision`.
    public func replace(_ name: String, _ bytes: [UInt8], modRevision: Int64) throws -> WriteResult {
        result(try client.compareAndSwap(Array(ClusterKeys.keyPath(prefix: prefix, name: name).utf8), bytes,
                                         if: .modRevision(modRevision)))
    }

    /// Deletes `name` only if its mod_revision is still `modRevision`.
    public func delete(_ name: String, modRevision: Int64) throws -> WriteResult {
        result(try client.compareAndDelete(ClusterKeys.keyPath(prefix: prefix, name: name), modRevision: modRevision))
    }

    private func result(_ swap: SwapResult) -> WriteResult {
        switch swap {
        case .swapped(let revision): return .written(revision: revision)
        case .conflict(let current, _): return .conflict(currentRevision: current?.modRevision ?? 0)
        }
    }
}
