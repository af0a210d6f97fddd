/// Where a cluster proxy's policy stands, for `policyctl status`.
public struct ControlCluster: Codable, Sendable, Equatable {
    /// The proxy's id (`proxy_id`).
    public var proxy: String
    /// The etcd endpoints.
    public var etcd: [String]
    /// Whether the policy follows etcd now; false: stale (the last good policy, fail-static).
    public var connected: Bool
    /// Since when it is connected, or stale (RFC 3339).
    public var since: String
    /// The etcd revision of the key entries last seen.
    public var revision: Int64
    /// Why etcd cannot be reached, when stale.
    public var reason: String?
    /// The snapshot file kept for a start during an outage.
    public var snapshot: String

    public init(proxy: String, etcd: [String], connected: Bool, since: String, revision: Int64, reason: String?,
                snapshot: String) {
        self.proxy = proxy
        self.etcd = etcd
        self.connected = connected
        self.since = since
        self.revision = revision
        self.reason = reason
        self.snapshot = snapshot
    }

    /// `policy: from etcd ...` or `policy: stale since ...`: one line for `policyctl status`.
    public var line: String {
        connected
            ? "policy: from etcd (\(etcd.joined(separator: ", "))) at revision \(revision), connected since \(since)"
            : "policy: stale since \(since) (etcd unreachable: \(reason ?? "?")); serving the last good policy, revision \(revision)"
    }
}
