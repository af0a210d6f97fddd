/// The `event` names the daemon writes. Review (`policyctl audit`) matches on them.
public enum AuditEvent {
    /// The daemon started: `version`, `libssh`, `config`, `config_digest`, `listen`, `keys`, `pid`.
    public static let daemonStart = "daemon-start"
    /// A reload was asked for: `outcome` (`applied`/`rejected`), `config_digest`, `keys`,
    /// `keys_added`, `keys_removed` (names), or `error` when rejected; in cluster mode, `trigger`
    /// (the etcd change that caused it, e.g. `etcd put of /portcullis/keys/bob at revision 7`),
    /// and when entries in etcd do not load, `refused_keys`, `kept_keys` and `error` (one line each).
    public static let daemonReload = "daemon-reload"
    /// The daemon stopped: `reason`, `sessions` still open when it began stopping.
    public static let daemonStop = "daemon-stop"
    /// Cluster mode: etcd could not be reached; the last good policy stays in force (fail-static):
    /// `reason`, `revision` (of the policy in force).
    public static let clusterDisconnected = "cluster-disconnected"
    /// Cluster mode: etcd answers again; the policy is read again at `revision`.
    public static let clusterConnected = "cluster-connected"
    /// On start, a socket file left by a crash under socket_root was removed: `path`.
    public static let staleSocketRemoved = "stale-socket-removed"
    /// On start, a socket file under socket_root was left untouched: `path` (non-UTF-8 bytes
    /// written `\xNN`), `reason` (not created by portcullisd, or in use).
    public static let socketLeftAlone = "socket-left-alone"
    /// On start, the log's torn last line (a crash mid-write) was moved aside or completed; the
    /// fields of ``AuditRecovery/Field``: `action`, `reason`, `file`, `offset`, `bytes`, `sha256`,
    /// `side_file`.
    public static let auditRecovered = "audit-recovered"

    /// A connection was refused at accept (max_startups, per_source_max_startups, a penalty):
    /// `client` and `client_port` (absent in a summary), `reason`, `also_refused`.
    public static let connectionRefused = "connection-refused"
    /// A source's penalty took effect (per_source_penalties): `client`, `source`, `reason`,
    /// `duration` (seconds it is refused for).
    public static let sourcePenalised = "source-penalised"

    /// A TCP connection was accepted: `client`, `client_port`, `server`, `server_port`.
    public static let sessionStart = "session-start"
    /// A public-key login attempt: `user`, `key` (when the key is configured), `fingerprint`,
    /// `algorithm`, `decision`, and `reason` when denied.
    public static let auth = "auth"
    /// A listen or open was decided: `kind`, `target`, `decision`, then `rule` (`FILE:LINE`) and
    /// `pattern` for an allow or `reason` for a deny; opens also carry `channel` and `originator`.
    public static let forwardRequest = "forward-request"
    /// An allowed listen is in place: `kind`, `target`, `bound` (address:port or path).
    public static let forwardBound = "forward-bound"
    /// An allowed listen or open could not be carried out: `kind`, `target`, `reason`
    /// (opens: `channel`).
    public static let forwardFailed = "forward-failed"
    /// The client cancelled a listen: `kind`, `target`.
    public static let forwardCancelled = "forward-cancelled"
    /// A published name left the table: `kind` (`name-publish`), `target` (`NAME:PORT`),
    /// `reason` (cancelled by the client, or the session ended).
    public static let nameWithdrawn = "name-withdrawn"
    /// A channel began carrying data: `channel`, `kind`, `target`, `originator`.
    public static let channelOpen = "channel-open"
    /// A channel ended: `channel`, `kind`, `target`, `bytes_from_client`, `bytes_to_client`,
    /// `duration` (seconds), `reason`.
    public static let channelClose = "channel-close"
    /// The session ended: `duration`, `channels`, `bytes_from_client`, `bytes_to_client`, `reason`.
    public static let sessionEnd = "session-end"

    /// An open relayed between proxies (cluster peering): `channel`, `kind`, `target` (the path
    /// relative to socket_root), `correlation` (the same id on both proxies' records), `peer` (the
    /// other proxy's id), `direction` (`to`: this proxy relays its client's open to the holder;
    /// `from`: this proxy serves a member's open), and `reason` when the relay failed.
    public static let relay = "relay"

    /// Every event name, daemon-level first.
    public static let all = [
        daemonStart, daemonReload, daemonStop, clusterDisconnected, clusterConnected, staleSocketRemoved, socketLeftAlone, auditRecovered, connectionRefused,
        sourcePenalised, sessionStart, auth, forwardRequest, forwardBound, forwardFailed, forwardCancelled, nameWithdrawn,
        channelOpen, channelClose, sessionEnd, relay,
    ]
}
