import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// `tcpip-forward`, `streamlocal-forward@openssh.com` and their cancels, decided by the core.
    func handleGlobalRequest(_ message: OpaquePointer) -> Int32 {
        let address = ssh_message_global_request_address(message).map { String(cString: $0) } ?? ""
        let port = Int(ssh_message_global_request_port(message))
        switch UInt32(ssh_message_subtype(message)) {
        case SSH_GLOBAL_REQUEST_TCPIP_FORWARD.rawValue:
            return perform(core.listen(.tcpListen(host: address, port: port)), about: message)
        case SSH_GLOBAL_REQUEST_STREAMLOCAL_FORWARD.rawValue:
            return perform(core.listen(.streamLocalListen(path: address)), about: message)
        case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD.rawValue:
            return perform(core.cancel(.tcpListen(host: address, port: port)), about: message)
        case SSH_GLOBAL_REQUEST_CANCEL_STREAMLOCAL_FORWARD.rawValue:
            return perform(core.cancel(.streamLocalListen(path: address)), about: message)
        default:
            return 1
        }
    }
}
