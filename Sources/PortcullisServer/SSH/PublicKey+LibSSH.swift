import CLibSSH
import Foundation
import PortcullisPolicy

extension PublicKey {
    /// The key libssh received, with its SHA256 fingerprint; nil if libssh cannot export it.
    init?(libssh key: OpaquePointer) {
        guard let typeName = ssh_key_type_to_char(ssh_key_type(key)) else { return nil }
        var base64: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(key, &base64) == SSH_OK, let base64 else { return nil }
        defer { ssh_string_free_char(base64) }
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        guard ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == SSH_OK, let hash else {
            return nil
        }
        defer {
            var owned: UnsafeMutablePointer<UInt8>? = hash
            ssh_clean_pubkey_hash(&owned)
        }
        let digest = Data(bytes: hash, count: length).base64EncodedString()
        self.init(algorithm: String(cString: typeName), base64: String(cString: base64),
                  fingerprint: "SHA256:" + digest.replacingOccurrences(of: "=", with: ""))
    }
}
