import CLibSSH

/// The public key line (`ssh-ed25519 AAAA...`) of a host private key file, for the member record.
public enum HostKeyLine {
    /// The line, or why it cannot be made.
    public static func of(privateKeyPath path: String) -> Result<String, HostKeyLineError> {
        LibSSH.initialize()
        var key: OpaquePointer?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            return .failure(HostKeyLineError(description: "cannot read host key \(path)"))
        }
        defer { ssh_key_free(key) }
        var base64: UnsafeMutablePointer<CChar>?
        guard let type = ssh_key_type_to_char(ssh_key_type(key)),
              ssh_pki_export_pubkey_base64(key, &base64) == SSH_OK, let base64 else {
            return .failure(HostKeyLineError(description: "cannot export the public key of host key \(path)"))
        }
        defer { ssh_string_free_char(base64) }
        return .success("\(String(cString: type)) \(String(cString: base64))")
    }
}

public struct HostKeyLineError: Error, CustomStringConvertible {
    public let description: String
}
