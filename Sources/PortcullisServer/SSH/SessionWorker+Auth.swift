import CLibSSH
import Foundation
import PortcullisPolicy

extension SessionWorker {
    /// A login attempt, decided by the core: every decided attempt is recorded before the client
    /// hears the answer.
    func handleAuthentication(_ message: OpaquePointer) -> Int32 {
        // The name as sent, a NUL inside included (patch 0018): decoded strictly, never repaired.
        let name = ssh_message_auth_user(message).map {
            UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self),
                                count: ssh_message_auth_user_length(message))
        }
        let (user, userProblem) = ClientText.userName(name ?? UnsafeBufferPointer(start: nil, count: 0))
        let method: SessionCore.AuthMethod
        switch ssh_message_subtype(message) {
        case Int32(SSH_AUTH_METHOD_NONE):
            method = .none
        case Int32(SSH_AUTH_METHOD_PUBLICKEY):
            method = publicKeyMethod(message)
        case let other:
            method = .other(Self.methodName(other))
        }
        let result = perform(core.authenticate(user: user, userProblem: userProblem, method: method, authority: authority),
                             about: message)
        if rules != nil { admitToKeyLimits() }
        return result
    }

    /// A public-key attempt as libssh left it (patch 0018): refused already when its algorithm is
    /// not among those accepted or its key cannot be read.
    private func publicKeyMethod(_ message: OpaquePointer) -> SessionCore.AuthMethod {
        let algorithm = escapedBytes(WireText.bytes(ssh_message_auth_pubkey_algorithm(message)))
        let key = portcullis_message_auth_pubkey(message).flatMap { PublicKey(libssh: $0) }
        let state = portcullis_message_auth_publickey_state(message)
        guard let key else {
            return .refusedKey(nil, reason: "unsupported key type \(ClientText.capped(algorithm, limit: 64))")
        }
        if !configuration.algorithms.pubkey.contains(algorithm) {
            let sha1 = algorithm == "ssh-rsa" ? " (SHA-1)" : ""
            return .refusedKey(key, reason: "signature algorithm \(ClientText.capped(algorithm, limit: 64))\(sha1) "
                                          + "is not accepted")
        }
        switch state {
        case SSH_PUBLICKEY_STATE_NONE: return .publicKey(key, signature: .absent)
        case SSH_PUBLICKEY_STATE_VALID: return .publicKey(key, signature: .valid)
        default: return .publicKey(key, signature: .invalid)
        }
    }

    /// The bytes of a C string libssh holds (none for NULL).
    private static func methodName(_ method: Int32) -> String {
        switch method {
        case Int32(SSH_AUTH_METHOD_PASSWORD): "password"
        case Int32(SSH_AUTH_METHOD_INTERACTIVE): "keyboard-interactive"
        case Int32(SSH_AUTH_METHOD_HOSTBASED): "host-based"
        case Int32(SSH_AUTH_METHOD_GSSAPI_MIC): "gssapi-with-mic"
        default: "unknown"
        }
    }
}
