import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// A login attempt. Only public keys are offered; every decided attempt is recorded before
    /// the client hears the answer. A probe (a key offered without a signature) that would be
    /// accepted is answered at once: nothing is granted until the signed attempt.
    func handleAuthentication(_ message: OpaquePointer) -> Int32 {
        let user = ssh_message_auth_user(message).map { String(cString: $0) } ?? ""
        let method = ssh_message_subtype(message)
        guard method == Int32(SSH_AUTH_METHOD_PUBLICKEY) else {
            // "none" is how a client asks which methods there are: not an attempt.
            guard method != Int32(SSH_AUTH_METHOD_NONE) else { return 1 }
            authFailures += 1
            let ticket = report(.authRefused(session: id, user: user, key: nil, keyName: nil,
                                             reason: "\(Self.methodName(method)) authentication is not offered"))
            return answer(message, after: ticket) { ssh_message_reply_default($0) }
        }
        guard let handle = portcullis_message_auth_pubkey(message), let key = PublicKey(libssh: handle) else {
            authFailures += 1
            return 1
        }
        let signature = portcullis_message_auth_publickey_state(message)
        switch (authority.admit(user: user, key: key, client: client), signature) {
        case (.admitted, SSH_PUBLICKEY_STATE_NONE):
            return answer(message, after: 0) { ssh_message_auth_reply_pk_ok_simple($0) }
        case (.admitted(let sessionRules), SSH_PUBLICKEY_STATE_VALID):
            let ticket = report(.authenticated(session: id, user: user, key: key, keyName: sessionRules.keyName))
            let generation = authority.generation
            return answer(message, after: ticket) { [self] message in
                rules = sessionRules
                login = (user, key, generation)
                ssh_message_auth_reply_success(message, 0)
            }
        case (.admitted(let sessionRules), _):
            return refuse(message, user: user, key: key, keyName: sessionRules.keyName, reason: "invalid signature")
        case (.refused(let reason, let keyName), _):
            return refuse(message, user: user, key: key, keyName: keyName, reason: reason)
        }
    }

    private func refuse(_ message: OpaquePointer, user: String, key: PublicKey, keyName: String?, reason: String) -> Int32 {
        authFailures += 1
        let ticket = report(.authRefused(session: id, user: user, key: key, keyName: keyName, reason: reason))
        return answer(message, after: ticket) { ssh_message_reply_default($0) }
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
