import CLibSSH
import PortcullisPolicy

extension Algorithms {
    /// Sets every list on `bind` (libssh drops names it does not know without a word: the config
    /// allows only names from `Algorithms.supported*`). User signatures outside `pubkey` are
    /// refused by libssh only when that list is set: without it, `ssh-rsa` (SHA-1) signatures pass
    /// although the `server-sig-algs` libssh advertises omit them.
    func apply(to bind: OpaquePointer) throws {
        let options: [(ssh_bind_options_e, [String], String)] = [
            (SSH_BIND_OPTIONS_KEY_EXCHANGE, kex, "kex_algorithms"),
            (SSH_BIND_OPTIONS_CIPHERS_C_S, ciphers, "ciphers"),
            (SSH_BIND_OPTIONS_CIPHERS_S_C, ciphers, "ciphers"),
            (SSH_BIND_OPTIONS_HMAC_C_S, macs, "macs"),
            (SSH_BIND_OPTIONS_HMAC_S_C, macs, "macs"),
            (SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, hostKey, "host_key_algorithms"),
            (SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, pubkey, "pubkey_accepted_algorithms"),
        ]
        for (option, list, field) in options {
            guard ssh_bind_options_set(bind, option, list.joined(separator: ",")) == SSH_OK else {
                let said = String(cString: ssh_get_error(UnsafeMutableRawPointer(bind)))
                throw ServerError(description: "libssh refuses the \(field) list \(list.joined(separator: ",")): \(said)")
            }
        }
    }

    /// The host key signature algorithms a host key of libssh type `key` can make.
    static func signatureAlgorithms(of key: OpaquePointer) -> [String] {
        switch ssh_key_type(key) {
        case SSH_KEYTYPE_RSA: ["rsa-sha2-512", "rsa-sha2-256"]
        case SSH_KEYTYPE_ED25519: ["ssh-ed25519"]
        case SSH_KEYTYPE_ECDSA_P256: ["ecdsa-sha2-nistp256"]
        case SSH_KEYTYPE_ECDSA_P384: ["ecdsa-sha2-nistp384"]
        case SSH_KEYTYPE_ECDSA_P521: ["ecdsa-sha2-nistp521"]
        default: []
        }
    }
}
