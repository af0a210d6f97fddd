/// A user's public key as the server received it.
public struct PublicKey: Sendable, Hashable {
    /// The algorithm name, e.g. `ssh-ed25519`.
    public var algorithm: String
    /// The key blob in base64, as in an authorized_keys line.
    public var base64: String
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    public var fingerprint: String

    public init(algorithm: String, base64: String, fingerprint: String) {
        self.algorithm = algorithm
        self.base64 = base64
        self.fingerprint = fingerprint
    }
}
