import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy

/// Cluster mode for policyctl: the key entries are etcd's (`PREFIX/keys/NAME`), read at one
/// revision and written back only with a compare-and-swap on what was read.
struct ClusterKeyEntries {
    let store: ClusterKeyStore
    /// The entries as read, by name.
    let documents: [String: KeyDocument]
    let revision: Int64

    /// Reads every entry of the cluster `settings` name; etcd unreachable is a failure saying so.
    init(_ settings: ClusterSettings) throws(Failure) {
        do {
            let client = try EtcdClient(endpoints: settings.etcdEndpoints)
            store = ClusterKeyStore(client: client, prefix: settings.prefix)
            let read = try store.read()
            documents = Dictionary(read.documents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            revision = read.revision
        } catch {
            throw Failure.refused("cannot read the keys from etcd: \(error)")
        }
    }

    /// `etcd:/PREFIX/keys/`: where policyctl says an entry was written.
    var location: String { "etcd:" + store.directory }

    /// The configuration at `configPath` with these entries, after `changes` (new entries by name,
    /// and removed names).
    func load(_ configPath: String, adding: [String: [UInt8]] = [:], removing: Set<String> = []) throws(ConfigError) -> PolicyConfig {
        var documents = self.documents
        for name in removing { documents[name] = nil }
        for (name, bytes) in adding {
            documents[name] = KeyDocument(name: name, origin: KeyDocument.etcdOrigin(prefix: store.prefix, name: name),
                                          bytes: bytes, modRevision: 0)
        }
        return try ConfigLoader.load(path: configPath, keyDocuments: Array(documents.values))
    }

    /// The configuration at `configPath` with the entries that load (after `adding` and `removing`),
    /// and the entries that do not, left out (as a daemon leaves out a new one: see `ClusterKeyMerge`).
    /// Throws the main file's problems.
    func loadUsable(_ configPath: String, adding: [String: [UInt8]] = [:], removing: Set<String> = [])
        throws(ConfigError) -> (config: PolicyConfig, refusals: [ClusterKeyMerge.Refusal]) {
        var documents = self.documents
        for name in removing { documents[name] = nil }
        for (name, bytes) in adding {
            documents[name] = KeyDocument(name: name, origin: KeyDocument.etcdOrigin(prefix: store.prefix, name: name),
                                          bytes: bytes, modRevision: 0)
        }
        if let config = try? ConfigLoader.load(path: configPath, keyDocuments: Array(documents.values)) { return (config, []) }
        let settings = try ConfigLoader.load(path: configPath)
        let merge = try ClusterKeyMerge(lastGood: [], latest: Array(documents.values), socketRoot: settings.socketRoot)
        return (try ConfigLoader.load(path: configPath, keyDocuments: merge.documents), merge.refusals)
    }

    /// Says on standard error which entries in etcd do not load (each problem `etcd:KEY:LINE: ...`).
    static func warn(_ refusals: [ClusterKeyMerge.Refusal]) {
        guard !refusals.isEmpty else { return }
        let lines = refusals.flatMap(\.problems).map { "  " + TerminalText.visible($0.description) }
        let head = "policyctl: warning: \(refusals.count) key \(refusals.count == 1 ? "entry" : "entries") in etcd do"
            + "\(refusals.count == 1 ? "es" : "") not load (\(refusals.map(\.name).joined(separator: ", "))); "
            + "left out here, and never in force as written (run policyctl validate):"
        FileHandle.standardError.write(Data((([TerminalText.visible(head)] + lines).joined(separator: "\n") + "\n").utf8))
    }

    /// Validates the entries as they will be, then writes them all or none (one etcd transaction):
    /// each new entry only if its name is still free, each removal only if the entry is unchanged
    /// since it was read (mod_revision). Another writer's change in between is a conflict naming
    /// the key, and nothing is written: an import is never half done. Other entries that do not
    /// load are no reason to refuse (a removal only takes rights away; a new entry is checked on
    /// its own and against the entries that load).
    func apply(_ configPath: String, adding: [String: [UInt8]] = [:], removing: Set<String> = []) throws(Failure) {
        do throws(ConfigError) {
            let (_, refusals) = try loadUsable(configPath, adding: adding, removing: removing)
            let own = refusals.filter { adding[$0.name] != nil }
            // The others were named when read (KeysDirectory.locked).
            guard own.isEmpty else { throw ConfigError(problems: own.flatMap(\.problems)) }
        } catch {
            throw Failure.refused("refused, the configuration would be invalid: \(ConfigOption.summary(error))")
        }
        let writes = adding.sorted(by: { $0.key < $1.key }).map { name, bytes in
            GuardedWrite.create(key: Array(ClusterKeys.keyPath(prefix: store.prefix, name: name).utf8), value: bytes)
        } + removing.sorted().map { name in
            GuardedWrite.delete(key: Array(ClusterKeys.keyPath(prefix: store.prefix, name: name).utf8),
                                modRevision: documents[name]?.modRevision ?? 0)
        }
        guard writes.count <= EtcdClient.maxTransactionWrites else {
            throw Failure.refused("\(writes.count) entries to write at once; etcd takes at most \(EtcdClient.maxTransactionWrites) "
                                  + "in one transaction: split the input (nothing written)")
        }
        let result: TransactionResult
        do {
            result = try store.client.transact(writes)
        } catch {
            throw Failure.refused("cannot write to etcd: \(error)")
        }
        guard case .conflict(let key, let now) = result else { return }
        let name = store.name(ofKey: key) ?? String(decoding: key, as: UTF8.self)
        let others = writes.count > 1 ? "; nothing written (\(writes.count) entries, all or none)" : "; nothing written for it"
        if adding[name] != nil {
            throw Failure.refused("conflict: key \"\(name)\" (\(location)\(name)) was created by another writer "
                                  + "meanwhile (mod_revision \(now))\(others): look again and retry")
        }
        let read = documents[name]?.modRevision ?? 0
        let what = now == 0 ? "removed" : "changed (mod_revision \(read), now \(now))"
        throw Failure.refused("conflict: key \"\(name)\" (\(location)\(name)) was \(what) by another writer "
                              + "meanwhile\(others == "; nothing written for it" ? "; not removed" : others): look again and retry")
    }
}

extension ConfigOption {
    /// The main file alone (settings, no key entries from etcd): for commands that need only those.
    func loadSettings() throws(Failure) -> PolicyConfig {
        do {
            return try ConfigLoader.load(path: config)
        } catch {
            throw Failure.usage("invalid configuration: \(Self.summary(error))")
        }
    }
}
