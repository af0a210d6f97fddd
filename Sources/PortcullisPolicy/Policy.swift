/// The policy engine: the loaded config, indexed for O(1) key lookup. Pure and immutable; share
/// one instance across threads and replace it wholesale on reload.
public struct Policy: Sendable {
    public let config: PolicyConfig
    private let byBase64: [String: Int]
    private let byName: [String: Int]
    private let byFingerprint: [String: Int]

    /// Indexes `config.keys`; if names or keys repeat (the loader refuses that), the first wins.
    public init(config: PolicyConfig) {
        self.config = config
        var byBase64: [String: Int] = [:], byName: [String: Int] = [:], byFingerprint: [String: Int] = [:]
        for (index, entry) in config.keys.enumerated() {
            // Keys read from a config are in canonical form already (PublicKey.parse).
            if byBase64[entry.key.base64] == nil { byBase64[entry.key.base64] = index }
            if byName[entry.name] == nil { byName[entry.name] = index }
            if byFingerprint[entry.key.fingerprint] == nil { byFingerprint[entry.key.fingerprint] = index }
        }
        self.byBase64 = byBase64
        self.byName = byName
        self.byFingerprint = byFingerprint
    }

    /// The entry whose public key blob is `key`'s, if any.
    public func entry(for key: PublicKey) -> KeyEntry? {
        index(of: key).map { config.keys[$0] }
    }

    /// The limits in force for `entry`: its own values over the `limits:` defaults.
    public func limits(for entry: KeyEntry) -> KeyLimits {
        entry.limits.merged(over: config.limits.keyDefaults)
    }

    /// Where in `config.keys` the entry of `key` is.
    func index(of key: PublicKey) -> Int? {
        if let index = byBase64[key.base64] { return index }
        guard let canonical = key.canonicalBase64, canonical != key.base64 else { return nil }
        return byBase64[canonical]
    }

    /// The entry called `name`, if any.
    public func entry(named name: String) -> KeyEntry? {
        byName[name].map { config.keys[$0] }
    }

    /// The entry whose key has `fingerprint` (`SHA256:...`), if any.
    public func entry(fingerprint: String) -> KeyEntry? {
        byFingerprint[fingerprint].map { config.keys[$0] }
    }
}
