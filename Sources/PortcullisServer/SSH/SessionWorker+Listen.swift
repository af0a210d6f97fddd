import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// `tcpip-forward`, `streamlocal-forward@openssh.com` and their cancels, decided by the core.
    /// A malformed one (libssh's reason, or an address or path that is not UTF-8) is recorded and
    /// refused unread.
    func handleGlobalRequest(_ message: OpaquePointer) -> Int32 {
        let subtype = UInt32(ssh_message_subtype(message))
        let name: String
        let field: String
        switch subtype {
        case SSH_GLOBAL_REQUEST_TCPIP_FORWARD.rawValue: (name, field) = ("tcpip-forward", "address")
        case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD.rawValue: (name, field) = ("cancel-tcpip-forward", "address")
        case SSH_GLOBAL_REQUEST_STREAMLOCAL_FORWARD.rawValue:
            (name, field) = ("streamlocal-forward@openssh.com", "socket path")
        case SSH_GLOBAL_REQUEST_CANCEL_STREAMLOCAL_FORWARD.rawValue:
            (name, field) = ("cancel-streamlocal-forward@openssh.com", "socket path")
        default:
            return 1
        }
        let port = Int(ssh_message_global_request_port(message))
        let isTCP = name.hasSuffix("tcpip-forward")
        func forward(_ address: String) -> ForwardRequest {
            guard isTCP else { return .streamLocalListen(path: address) }
            return ServiceName.isNameRequest(address) ? .namePublish(name: address, port: port) : .tcpListen(host: address, port: port)
        }
        if let reason = malformedReason(message) {
            return perform(core.refuseMalformed(.init(kind: forward("").kind, target: nil, reason: reason,
                                                      isOpen: false)), about: message)
        }
        let address: String
        switch WireText.decode(ssh_message_global_request_address(message), named: field, of: name,
                               limit: isTCP ? WireText.hostLimit : WireText.pathLimit) {
        case .success(let text):
            address = text
        case .failure(let bad):
            return perform(core.refuseMalformed(.init(kind: forward("").kind, target: forward(bad.escaped).target,
                                                      reason: bad.reason, isOpen: false)), about: message)
        }
        switch subtype {
        case SSH_GLOBAL_REQUEST_TCPIP_FORWARD.rawValue, SSH_GLOBAL_REQUEST_STREAMLOCAL_FORWARD.rawValue:
            // max_listens: a listen the rules allow is refused, its record saying why.
            if let reason = listenLimitRefusal(), let rules, rules.decide(forward(address)).isAllowed {
                return perform([.record(.forwardRequested(session: id, request: forward(address), decision: .deny(reason: reason))),
                                .answer(.requestFailure)], about: message)
            }
            if case .namePublish(let name, _) = forward(address), let rules, !rules.namesMayShadowHosts,
               rules.decide(forward(address)).isAllowed {
                return publishUnlessHostName(forward(address), name: name, message: message)
            }
            return perform(core.listen(forward(address)), about: message)
        default:
            return perform(core.cancel(forward(address)), about: message)
        }
    }

    /// Why libssh could not take `message` as sent (patch 0017), or nil for a well-formed one.
    func malformedReason(_ message: OpaquePointer) -> String? {
        guard let reason = ssh_message_malformed_reason(message) else { return nil }
        let bytes = WireText.bytes(reason)
        return WireText.utf8(bytes) ?? escapedBytes(bytes)
    }
}
