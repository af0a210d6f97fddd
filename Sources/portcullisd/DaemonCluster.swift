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

    /// Where the policy stands, for `policyctl status`.
    static func status(_ source: ClusterPolicySource, _ config: PolicyConfig) -> ControlCluster {
        let state = source.current
        return ControlCluster(proxy: config.proxyID, etcd: config.cluster?.etcd.map(\.description) ?? [],
                              connected: state.connected, since: ControlTime.text(state.since), revision: state.revision,
                              reason: state.reason, snapshot: source.snapshotPath)
    }
}

extension DaemonAudit {
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
