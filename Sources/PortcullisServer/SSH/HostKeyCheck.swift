import CLibSSH
import Foundation

/// Whether libssh can load a host key, as the daemon's start will: the key is parsed from the
/// bytes HostKeyFile read (never prompting for a passphrase), then offered to a throwaway
/// `ssh_bind` the way the server offers it, which refuses what the server would (an RSA key too
/// small, a key type this libssh cannot serve).
public enum HostKeyCheck {
    /// Why the key in `bytes` (read from `path`) cannot be used, or nil.
    public static func problem(path: String, bytes: [UInt8]) -> String? {
        LibSSH.initialize()
        // Set by the callback: the key asked for a passphrase.
        var asked: Int32 = 0
        var key: OpaquePointer?
        let text = String(decoding: bytes, as: UTF8.self)
        let rc = withUnsafeMutablePointer(to: &asked) { flag in
            ssh_pki_import_privkey_base64(text, nil, { _, _, _, _, _, userdata in
                userdata?.assumingMemoryBound(to: Int32.self).pointee = 1
                return SSH_ERROR
            }, flag, &key)
        }
        guard rc == SSH_OK, let key else {
            return asked != 0 ? "protected by a passphrase: a host key must load without one"
                              : "not a private key libssh can load (an OpenSSH or PEM private key file is expected)"
        }
        ssh_key_free(key)
        guard let bind = ssh_bind_new() else { return "cannot check: ssh_bind_new failed" }
        defer { ssh_bind_free(bind) }
        guard ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, path) == SSH_OK else {
            let error = String(cString: ssh_get_error(UnsafeMutableRawPointer(bind)))
            return "libssh cannot serve it" + (error.isEmpty ? "" : ": \(error)")
        }
        return nil
    }
}
