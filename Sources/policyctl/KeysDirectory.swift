import Foundation
import PortcullisPolicy

/// The keys directory policyctl writes to: locked for the whole of a change, every change
/// validated with the daemon's loader before any file is touched. In cluster mode, etcd's
/// `PREFIX/keys/` instead: no lock, each write a compare-and-swap on what was read.
struct KeysDirectory {
    let configPath: String
    let path: String
    /// Cluster mode: the entries as read from etcd, where the changes go.
    let cluster: ClusterKeyEntries?

    /// The keys_dir of the configuration at `configPath` (cluster mode: its entries in etcd, read now).
    init(config: PolicyConfig, configPath: String) throws(Failure) {
        self.configPath = configPath
        if let settings = config.cluster {
            let cluster = try ClusterKeyEntries(settings)
            self.cluster = cluster
            path = String(cluster.location.dropLast())
            return
        }
        cluster = nil
        guard let keysDir = config.keysDir else {
            throw Failure.refused("\(configPath) has no keys_dir; add one (e.g. keys_dir: keys.d) by hand: policyctl never edits the main config")
        }
        path = keysDir
    }

    /// Whether changes go to etcd.
    var isCluster: Bool { cluster != nil }

    /// What the daemon does with a change: by itself in cluster mode, at a reload otherwise.
    var applyHint: String {
        isCluster ? "every proxy applies it by itself (etcd watch)" : "run policyctl reload to apply it"
    }

    /// Loads the configuration under an exclusive flock on `keys_dir/.policyctl.lock` and runs
    /// `body` with it; the lock is held until `body` returns, so concurrent runs see each other's
    /// changes.
    static func locked<T>(_ option: ConfigOption, _ body: (PolicyConfig, KeysDirectory) throws(Failure) -> T) throws(Failure) -> T {
        let first = try option.loadSettings()
        let directory = try KeysDirectory(config: first, configPath: option.config)
        if let cluster = directory.cluster {
            // No lock: a write that another one overtook fails its compare-and-swap.
            // Entries that do not load are left out and named: a removal, or a new entry that
            // loads, is no less right for them.
            let config: PolicyConfig
            do {
                let usable = try cluster.loadUsable(option.config)
                config = usable.config
                ClusterKeyEntries.warn(usable.refusals)
            } catch {
                throw Failure.usage("invalid configuration: \(ConfigOption.summary(error))")
            }
            return try body(config, directory)
        }
        let lockPath = directory.path + "/.policyctl.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure.refused("cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Failure.refused("cannot lock \(lockPath): \(String(cString: strerror(errno)))") }
        }
        // Read again under the lock: another run may have changed keys_dir meanwhile.
        return try body(try option.load(), directory)
    }

    /// Where `name` (a file name, `alex.yaml`) is written; in cluster mode the entry's key, `etcd:/portcullis/keys/alex`.
    func file(_ name: String) -> String {
        (path.hasSuffix("/") ? path : path + "/") + (isCluster && name.hasSuffix(".yaml") ? String(name.dropLast(5)) : name)
    }

    /// Validates the configuration as it will be after `changes`, then makes them: new files are
    /// created (never replacing one), removed files unlinked.
    func apply(_ changes: PendingChanges) throws(Failure) {
        if let cluster {
            // New entries come as NAME.yaml (KeySpec.fileName); removals by the entry's name.
            let adding = Dictionary(uniqueKeysWithValues: changes.keyFiles.map { (String($0.key.dropLast(5)), [UInt8]($0.value)) })
            return try cluster.apply(configPath, adding: adding, removing: changes.removedKeyFiles)
        }
        do {
            _ = try ConfigLoader.load(path: configPath, pending: changes)
        } catch {
            throw Failure.refused("refused, the configuration would be invalid: \(ConfigOption.summary(error))")
        }
        do {
            // 0640: readable by keys_dir's group too. The package makes keys_dir root:portcullis
            // 2750 (set-group-ID, so every file made in it gets that group): root writes the
            // access list and the daemon, running as portcullis, can read but never change it.
            for (name, data) in changes.keyFiles.sorted(by: { $0.key < $1.key }) {
                try AtomicFile.write(data, to: file(name), mode: 0o640, replace: false)
            }
            for name in changes.removedKeyFiles.sorted() { try AtomicFile.remove(file(name)) }
        } catch {
            throw Failure.refused(error.description)
        }
    }

    /// The comment at the top of each file policyctl writes.
    static func header(_ command: String, name: String) -> String {
        "Written by policyctl \(command) on \(Expiry.text(Date())).\nRemove with: policyctl remove-key \(name)"
    }
}
