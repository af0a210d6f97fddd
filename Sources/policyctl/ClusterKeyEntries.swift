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

    /// Validates the entries as they will be, then writes them: each new entry only if its name is
    /// still free (create_revision == 0), each removal only if the entry is unchanged since it was
    /// read (mod_revision). Another writer's change in between is a conflict naming the key; it is
    /// never overwritten.
    func apply(_ configPath: String, adding: [String: [UInt8]] = [:], removing: Set<String> = []) throws(Failure) {
        do {
            _ = try load(configPath, adding: adding, removing: removing)
        } catch {
            throw Failure.refused("refused, the configuration would be invalid: \(ConfigOption.summary(error))")
        }
        do {
            for (name, bytes) in adding.sorted(by: { $0.key < $1.key }) {
                if case .conflict(let now) = try store.create(name, bytes) {
                    throw Failure.refused("conflict: key \"\(name)\" (\(location)\(name)) was created by another writer "
                                          + "meanwhile (mod_revision \(now)); nothing written for it: look again and retry")
                }
            }
            for name in removing.sorted() {
                let read = documents[name]?.modRevision ?? 0
                if case .conflict(let now) = try store.delete(name, modRevision: read) {
                    let what = now == 0 ? "removed" : "changed (mod_revision \(read), now \(now))"
                    throw Failure.refused("conflict: key \"\(name)\" (\(location)\(name)) was \(what) by another writer "
                                          + "meanwhile; not removed: look again and retry")
                }
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.refused("cannot write to etcd: \(error)")
        }
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
