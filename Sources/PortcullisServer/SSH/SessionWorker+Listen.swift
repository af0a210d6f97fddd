import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// `tcpip-forward`, `streamlocal-forward@openssh.com` and their cancels.
    func handleGlobalRequest(_ message: OpaquePointer, rules: any SessionRules) -> Int32 {
        let address = ssh_message_global_request_address(message).map { String(cString: $0) } ?? ""
        let port = Int(ssh_message_global_request_port(message))
        switch UInt32(ssh_message_subtype(message)) {
        case SSH_GLOBAL_REQUEST_TCPIP_FORWARD.rawValue:
            return listen(.tcpListen(host: address, port: port), rules: rules, message: message)
        case SSH_GLOBAL_REQUEST_STREAMLOCAL_FORWARD.rawValue:
            return listen(.streamLocalListen(path: address), rules: rules, message: message)
        case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD.rawValue:
            return cancel(.tcpListen(host: address, port: port), message: message)
        case SSH_GLOBAL_REQUEST_CANCEL_STREAMLOCAL_FORWARD.rawValue:
            return cancel(.streamLocalListen(path: address), message: message)
        default:
            return 1
        }
    }

    /// Decides, binds, records, and only then tells the client; the listener takes connections
    /// from the moment the client has been told.
    private func listen(_ request: ForwardRequest, rules: any SessionRules, message: OpaquePointer) -> Int32 {
        let decision = rules.decide(request)
        var ticket = report(.forwardRequested(session: id, request: request, decision: decision))
        guard decision.isAllowed else {
            return answer(message, after: ticket) { ssh_message_reply_default($0) }
        }
        if remoteForwards.contains(where: { $0.request == request }) {
            ticket = report(.forwardFailed(session: id, request: request, reason: "already forwarded in this session"))
            return answer(message, after: ticket) { ssh_message_reply_default($0) }
        }
        let forward: RemoteForward
        do {
            var ranges: [ClosedRange<Int>]?
            if case .tcpListen(let host, 0) = request {
                let allowed = rules.dynamicPortRanges(host: host)
                ranges = allowed == [1024...65535] ? nil : allowed
            }
            forward = try RemoteForward(worker: self, request: request, dynamicRanges: ranges)
        } catch {
            ticket = report(.forwardFailed(session: id, request: request, reason: "\(error)"))
            return answer(message, after: ticket) { ssh_message_reply_default($0) }
        }
        remoteForwards.append(forward)
        ticket = report(.forwardBound(session: id, request: request, bound: forward.bound))
        return answer(message, after: ticket) { message in
            forward.activate()
            ssh_message_global_request_reply_success(message, UInt16(forward.boundPort))
        }
    }

    private func cancel(_ request: ForwardRequest, message: OpaquePointer) -> Int32 {
        guard let index = remoteForwards.firstIndex(where: { $0.request == request }) else { return 1 }
        let forward = remoteForwards.remove(at: index)
        forward.cancel()
        cancelledForwards.append(forward)
        let ticket = report(.forwardCancelled(session: id, request: request))
        return answer(message, after: ticket) { ssh_message_global_request_reply_success($0, 0) }
    }
}
