/// Field names that records share with ``AuditFilter``, ``AuditSessionTracker`` and review. The
/// server names its fields with these so that review can find them.
public enum AuditField {
    /// The key's configured name.
    public static let key = "key"
    /// `SHA256:…` fingerprint of the key.
    public static let fingerprint = "fingerprint"
    /// The key's algorithm, e.g. `ssh-ed25519`.
    public static let algorithm = "algorithm"
    /// The user name the client logged in as.
    public static let user = "user"
    /// The client's IP address (without port).
    public static let client = "client"
    public static let clientPort = "client_port"
    /// The address and port the client connected to.
    public static let server = "server"
    public static let serverPort = "server_port"
    /// `allow` or `deny`.
    public static let decision = "decision"
    /// Why something was denied, failed or ended.
    public static let reason = "reason"
    /// The rule that granted: `FILE:LINE`.
    public static let rule = "rule"
    /// The granting rule's pattern as written in the config.
    public static let pattern = "pattern"
    /// `tcp-listen`, `tcp-open`, `streamlocal-listen` or `streamlocal-open`.
    public static let kind = "kind"
    /// The forward's target as requested: `host:port` or a socket path.
    public static let target = "target"
    /// What a listen actually bound: `address:port` or the socket path.
    public static let bound = "bound"
    /// The channel's number within its session.
    public static let channel = "channel"
    /// Where a channel's connection came from, as `host:port` (or the socket path).
    public static let originator = "originator"
    /// Bytes the SSH client sent into a channel (or, on session-end, into all of them).
    public static let bytesFromClient = "bytes_from_client"
    /// Bytes sent to the SSH client.
    public static let bytesToClient = "bytes_to_client"
    /// Seconds, with microseconds.
    public static let duration = "duration"
    /// How many channels a session carried.
    public static let channels = "channels"
    /// connection-refused: refusals of the same kind since the last such record not recorded one by one.
    public static let alsoRefused = "also_refused"
    /// source-penalised: the source block refused (`ADDRESS/BITS`, per_source_net_block_size).
    public static let source = "source"
    /// relay: the id a relayed open carries on both proxies' records.
    public static let correlation = "correlation"
    /// relay: the other proxy's id.
    public static let peer = "peer"
    /// relay: `to` (relayed to the holder) or `from` (served for a member).
    public static let direction = "direction"

    /// The fields that describe who a session is; later records of the session inherit them for filtering.
    public static let identity = [key, fingerprint, user, client]
}
