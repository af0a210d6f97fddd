import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// A login attempt, decided by the core: every decided attempt is recorded before the client
    /// hears the answer.
    func handleAuthentication(_ message: OpaquePointer) -> Int32 {
        let user = ssh_message_auth_user(message).map { String(cString: $0) } ?? ""
        let method: SessionCore.AuthMethod
        switch ssh_message_subtype(message) {
        case Int32(SSH_AUTH_METHOD_NONE):
            method = .none
        case Int32(SSH_AUTH_METHOD_PUBLICKEY):
            guard let handle = portcullis_message_auth_pubkey(message), let key = PublicKey(libssh: handle) else {
                method = .other("publickey with an unreadable key")
                break
            }
            let signature: SessionCore.Signature
            switch portcullis_message_auth_publickey_state(message) {
            case SSH_PUBLICKEY_STATE_NONE: signature = .absent
            case SSH_PUBLICKEY_STATE_VALID: signature = .valid
            default: signature = .invalid
            }
            method = .publicKey(key, signature: signature)
        case let other:
            method = .other(Self.methodName(other))
        }
        return perform(core.authenticate(user: user, method: method, authority: authority), about: message)
    }

    private static func methodName(_ method: Int32) -> String {
        switch method {
        case Int32(SSH_AUTH_METHOD_PASSWORD): "password"
        case Int32(SSH_AUTH_METHOD_INTERACTIVE): "keyboard-interactive"
        case Int32(SSH_AUTH_METHOD_HOSTBASED): "host-based"
        case Int32(SSH_AUTH_METHOD_GSSAPI_MIC): "gssapi-with-mic"
        default: "method \(method)"
        }
    }
}
