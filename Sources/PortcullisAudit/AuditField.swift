/// Field names that records share with ``AuditFilter`` and ``AuditSessionTracker``. The server
/// names its fields with these so that review can find them.
public enum AuditField {
    /// The key's configured name.
    public static let key = "key"
    /// `SHA256:…` fingerprint of the key.
    public static let fingerprint = "fingerprint"
    /// The user name the client logged in as.
    public static let user = "user"
    /// The client's IP address (without port).
    public static let client = "client"
    /// `allow` or `deny`.
    public static let decision = "decision"
    /// `tcp-listen`, `tcp-open`, `streamlocal-listen` or `streamlocal-open`.
    public static let kind = "kind"
    /// The forward's target as requested: `host:port` or a socket path.
    public static let target = "target"

    /// The fields that describe who a session is; later records of the session inherit them for filtering.
    public static let identity = [key, fingerprint, user, client]
}
