/// The SSH algorithms the daemon offers and accepts, one list per kind, in order of preference:
/// OpenSSH 9.2's server defaults or stricter (no SHA-1 signatures or MACs, no DSA, no CBC ciphers).
/// The config's `algorithms` mapping may narrow or reorder each list, never widen it.
public struct Algorithms: Sendable, Hashable {
    /// Key exchange (`KexAlgorithms`).
    public var kex: [String]
    /// Ciphers, both directions (`Ciphers`).
    public var ciphers: [String]
    /// MACs, both directions (`MACs`); AEAD ciphers use none.
    public var macs: [String]
    /// Host key signature algorithms offered (`HostKeyAlgorithms`); only those of a loaded host key are offered.
    public var hostKey: [String]
    /// User signature algorithms accepted for public-key authentication (`PubkeyAcceptedAlgorithms`),
    /// also advertised as `server-sig-algs`.
    public var pubkey: [String]

    public init(kex: [String] = Algorithms.supportedKex, ciphers: [String] = Algorithms.supportedCiphers,
                macs: [String] = Algorithms.supportedMACs, hostKey: [String] = Algorithms.supportedHostKey,
                pubkey: [String] = Algorithms.supportedPubkey) {
        self.kex = kex
        self.ciphers = ciphers
        self.macs = macs
        self.hostKey = hostKey
        self.pubkey = pubkey
    }

    /// The defaults: everything the daemon supports.
    public static let defaults = Algorithms()

    /// OpenSSH 9.2's default order, less what libssh lacks (sntrup761x25519).
    public static let supportedKex = [
        "curve25519-sha256", "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256",
    ]
    /// OpenSSH 9.2's defaults.
    public static let supportedCiphers = [
        "chacha20-poly1305@openssh.com",
        "aes128-ctr", "aes192-ctr", "aes256-ctr",
        "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
    ]
    /// OpenSSH 9.2's defaults less SHA-1 (and umac, which libssh lacks).
    public static let supportedMACs = [
        "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512",
    ]
    /// OpenSSH 9.2's defaults less certificates and security keys (a host key is never either here).
    public static let supportedHostKey = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256",
    ]
    /// OpenSSH 9.2's defaults less certificates (the daemon does not check a certificate's CA).
    public static let supportedPubkey = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
        "rsa-sha2-512", "rsa-sha2-256",
    ]

    /// One list of the config's `algorithms` mapping: its field name, what it holds, and where it goes.
    public struct Kind: Sendable {
        public let field: String
        public let supported: [String]
        public let keyPath: WritableKeyPath<Algorithms, [String]> & Sendable
    }

    /// The lists by their config field names (OpenSSH's option names in snake case).
    public static let kinds: [Kind] = [
        Kind(field: "kex_algorithms", supported: supportedKex, keyPath: \.kex),
        Kind(field: "ciphers", supported: supportedCiphers, keyPath: \.ciphers),
        Kind(field: "macs", supported: supportedMACs, keyPath: \.macs),
        Kind(field: "host_key_algorithms", supported: supportedHostKey, keyPath: \.hostKey),
        Kind(field: "pubkey_accepted_algorithms", supported: supportedPubkey, keyPath: \.pubkey),
    ]

    /// Why `name` cannot be in the list of `kind`, or nil if it can.
    static func problem(_ name: String, in kind: Kind) -> String? {
        if kind.supported.contains(name) { return nil }
        if let refusal = refusedOnPurpose[name] { return "not supported: \(refusal)" }
        if name.hasSuffix("-cert-v01@openssh.com") {
            return "not supported: certificates are not accepted (the daemon does not check their CA)"
        }
        if let first = name.first, "+-^".contains(first) {
            return "OpenSSH's +, - and ^ list modifiers are not supported: list the algorithms wanted"
        }
        let hint = FieldSuggestion.closest(to: name, among: kind.supported).map { " (did you mean \($0)?)" } ?? ""
        return "unknown or unsupported algorithm\(hint); supported: \(kind.supported.joined(separator: ", "))"
    }

    /// Names an administrator may know from OpenSSH that the daemon refuses, with why.
    private static let refusedOnPurpose: [String: String] = {
        var reasons: [String: String] = [:]
        for name in ["ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "hmac-sha1", "hmac-sha1-etm@openssh.com",
                     "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1",
                     "diffie-hellman-group-exchange-sha1", "hmac-sha1-96", "hmac-md5"] {
            reasons[name] = "it relies on SHA-1 or MD5"
        }
        for name in ["ssh-dss", "ssh-dss-cert-v01@openssh.com"] { reasons[name] = "DSA keys are weak" }
        for name in ["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc", "blowfish-cbc", "none"] {
            reasons[name] = "CBC and unencrypted modes are refused"
        }
        for name in ["umac-64@openssh.com", "umac-128@openssh.com", "umac-64-etm@openssh.com",
                     "umac-128-etm@openssh.com", "sntrup761x25519-sha512@openssh.com"] {
            reasons[name] = "libssh does not implement it"
        }
        return reasons
    }()
}
