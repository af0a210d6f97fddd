import Foundation
import PortcullisAudit
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// Cluster mode's policy source for the daemon: made at start from `cluster:`, its key entries read
/// from etcd (or from the snapshot while etcd is down).
enum DaemonCluster {
    /// The source for `settings`, begun: the entries are read. Throws a sentence saying why the
    /// daemon cannot start (no etcd and no usable snapshot).
    static func begin(_ settings: ClusterSettings, log: @escaping @Sendable (String) -> Void) throws -> (ClusterPolicySource, String) {
        let client = try EtcdClient(endpoints: settings.etcdEndpoints,
                                    requestTimeout: 2)
        let source = ClusterPolicySource(store: ClusterKeyStore(client: client, prefix: settings.prefix),
                                         snapshotPath: settings.snapshot, log: log)
        let said = try source.begin()
        return (source, said)
    }

    /// Makes the snapshot's directory if it is missing (mode 0750; given to `account` when the daemon
    /// drops to one, which writes the snapshot).
    static func makeSnapshotDirectory(_ settings: ClusterSettings, for account: ServiceAccount?) throws {
        let directory = (settings.snapshot as NSString).deletingLastPathComponent
        guard !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) else { return }
        if let account {
            try Privileges.makeDirectory(directory, for: account)
        } else {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        }
    }

    /// The configuration at `configPath` with the source's key entries.
    static func load(_ configPath: String, _ source: ClusterPolicySource?) throws(ConfigError) -> PolicyConfig {
        guard let source else { return try ConfigLoader.load(path: configPath) }
        return try ConfigLoader.load(path: configPath, keyDocuments: source.documents)
    }

    /// The configuration to start with, entry by entry as a reload is: each of the source's entries
    /// that loads, the snapshot's version of one that does not (when the snapshot, of this prefix,
    /// has one that loads), none otherwise. The entries in force are handed to the source. A main
    /// file that does not load, or an entry the snapshot holds unchanged that no longer loads
    /// under it, stops the start (the error says why).
    static func start(_ configPath: String, _ source: ClusterPolicySource, prefix: String) throws(ConfigError) -> Reload {
        let latest = source.documents
        if let config = try? ConfigLoader.load(path: configPath, keyDocuments: latest) {
            return Reload(config: config, documents: latest, refusals: [], removed: [], refused: nil)
        }
        let settings = try ConfigLoader.load(path: configPath)
        let snapshot = try? ClusterSnapshot.read(from: source.snapshotPath)
        let lastGood = snapshot?.prefix == prefix ? snapshot?.documents ?? [] : []
        let merge = try ClusterKeyMerge(lastGood: lastGood, latest: latest, socketRoot: settings.socketRoot)
        let config = try ConfigLoader.load(path: configPath, keyDocuments: merge.documents)
        source.adopt(merge.documents)
        return Reload(config: config, documents: merge.documents, refusals: merge.refusals, removed: [], refused: nil)
    }

    /// A reload that refused entries and would put nothing new in force: refused as a whole.
    struct NothingNew: Error {
        let reload: Reload
    }

    /// What a reload in cluster mode puts in force.
    struct Reload {
        /// The configuration to put in force.
        var config: PolicyConfig
        /// Its key entries (what the source adopts and the snapshot holds): never one that does not load.
        var documents: [KeyDocument]
        /// etcd's entries that are not in force as etcd has them (per-entry fail-static).
        var refusals: [ClusterKeyMerge.Refusal]
        /// Keys removed since the last good policy.
        var removed: [String]
        /// The reload was refused as a whole (the main file, or an unchanged entry under new
        /// settings): only the removals were applied, to the configuration in force.
        var refused: ConfigError?

        /// Every refused entry and problem, one per line: for the log, the audit record and the status.
        var problemText: String {
            let listed = refusals.prefix(ConfigError.describedLimit).map(\.description)
            let more = refusals.count - listed.count
            return ((refused.map { ["\($0)"] } ?? []) + listed
                    + (more > 0 ? ["(and \(more) more refused entries: policyctl validate --json lists them all)"] : []))
                .joined(separator: "\n")
        }

        /// Whether anything etcd holds, or the main file, was refused.
        var isPartial: Bool { refused != nil || !refusals.isEmpty }
    }

    /// The configuration at `configPath` with the source's entries, entry by entry: each entry that
    /// loads as etcd has it, the last good version of one that does not (a new one left out), and
    /// every removal since the last good policy. A reload refused as a whole (the main file does
    /// not load, or an entry unchanged since no longer does under it) still applies the removals to
    /// `inForce`; with no removal, it throws.
    static func reload(_ configPath: String, _ source: ClusterPolicySource, inForce: PolicyConfig) throws(ConfigError) -> Reload {
        let (lastGood, latest) = (source.lastGood, source.documents)
        // Everything loads (the usual case): etcd's entries as they are, read once.
        if let config = try? ConfigLoader.load(path: configPath, keyDocuments: latest) {
            return Reload(config: config, documents: latest, refusals: [],
                          removed: ClusterKeyMerge.removalsOnly(lastGood: lastGood, latest: latest).removed, refused: nil)
        }
        do {
            let settings = try ConfigLoader.load(path: configPath)
            let merge = try ClusterKeyMerge(lastGood: lastGood, latest: latest, socketRoot: settings.socketRoot)
            let config = try ConfigLoader.load(path: configPath, keyDocuments: merge.documents)
            return Reload(config: config, documents: merge.documents, refusals: merge.refusals, removed: merge.removed, refused: nil)
        } catch {
            let (documents, removed) = ClusterKeyMerge.removalsOnly(lastGood: lastGood, latest: latest)
            guard !removed.isEmpty else { throw error }
            var config = inForce
            config.keys.removeAll { removed.contains($0.name) }
            return Reload(config: config, documents: documents, refusals: [], removed: removed, refused: error)
        }
    }

    /// Where the policy stands, for `policyctl status`.
    static func status(_ source: ClusterPolicySource, _ config: PolicyConfig) -> ControlCluster {
        let state = source.current
        return ControlCluster(proxy: config.proxyID, etcd: config.cluster?.etcd.map(\.description) ?? [],
                              connected: state.connected, since: ControlTime.text(state.since), revision: state.revision,
                              reason: state.reason, snapshot: source.snapshotPath)
    }
}

extension DaemonAudit {
    /// A cluster reload that refused some of etcd's entries (or the main file) and applied the rest:
    /// the usual applied record, with `refused_keys` (names), `kept_keys` (names whose last good
    /// version stays) and `error` (every problem, `etcd:KEY:LINE: ...`).
    func reloadedPartly(from old: PolicyConfig, to new: PolicyConfig, _ reload: DaemonCluster.Reload, trigger: String?) {
        reloaded(from: old, to: new, trigger: trigger, more: Self.refusalFields(reload))
    }

    /// A cluster reload that put nothing new in force: the rejected record, naming the refused entries.
    func reloadRejected(_ reload: DaemonCluster.Reload, trigger: String?) {
        trail.submit(event: AuditEvent.daemonReload, fields: [
            JSONMember("outcome", .string("rejected")),
        ] + Self.refusalFields(reload) + (trigger.map { [JSONMember("trigger", .string($0))] } ?? []))
    }

    private static func refusalFields(_ reload: DaemonCluster.Reload) -> [JSONMember] {
        let kept = reload.refusals.filter { if case .keptLastGood = $0.outcome { true } else { false } }.map(\.name)
        return [
            JSONMember("error", .string(reload.problemText)),
            JSONMember("refused_keys", .array(reload.refusals.map { .string($0.name) })),
            JSONMember("kept_keys", .array(kept.map { .string($0) })),
        ]
    }


    /// etcd went away (the last good policy stays) or came back.
    func cluster(_ event: ClusterPolicySource.Event) {
        switch event {
        case .disconnected(let reason):
            trail.submit(event: AuditEvent.clusterDisconnected, fields: [
                JSONMember("reason", .string(reason)), JSONMember("policy", .string("last good policy kept (fail-static)")),
            ])
        case .connected(let revision):
            trail.submit(event: AuditEvent.clusterConnected, fields: [JSONMember("revision", .int(revision))])
        }
    }
}
