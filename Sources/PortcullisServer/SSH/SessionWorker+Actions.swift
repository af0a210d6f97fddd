import CLibSSH
import PortcullisPolicy

extension SessionWorker {
    /// Carries out what the core decided, in order: records get their tickets, answers wait for
    /// the latest ticket, binds happen and their outcome goes back to the core. `message` is the
    /// client's request the answers are for (nil: none). Returns what a libssh message callback
    /// returns: `SSH_MESSAGE_CALLBACK_KEEP` (the message is answered, or freed, here).
    @discardableResult
    func perform(_ actions: [SessionCore.Action], about message: OpaquePointer?) -> Int32 {
        carryOut(actions[...], about: message, after: 0, bound: nil)
    }

    /// `perform`, from where it left off: `ticket`, the latest record's so far; `bound`, the
    /// forward the answer makes active. A bind whose claim waits on the cluster registry stops
    /// here: the claim is made off the loop (`claimOffLoop`) and the rest of `actions` is carried
    /// out when it answers (`serviceClaims`), the message held until then.
    @discardableResult
    func carryOut(_ actions: ArraySlice<SessionCore.Action>, about message: OpaquePointer?, after ticket: UInt64,
                  bound: RemoteForward?) -> Int32 {
        var queue = actions
        var ticket = ticket
        var answered = false
        var bound = bound
        while let action = queue.popFirst() {
            switch action {
            case .record(let event):
                ticket = report(event)
            case .answer(let reply):
                guard let message, !answered else { continue }
                answered = true
                let forward = bound
                _ = answer(message, after: ticket) { message in
                    forward?.activate()
                    Self.send(reply, to: message)
                }
            case .bind(let request, let ranges):
                if let reason = takeListen() {
                    queue = core.listenFailed(request, reason: reason)[...] + queue
                    continue
                }
                if configuration.listenClaims.waitsOnNetwork(request) {
                    switch claimOffLoop(request, ranges: ranges, message: answered ? nil : message, rest: queue,
                                        after: ticket) {
                    case .success:
                        // The message is the pending claim's now.
                        return SSH_MESSAGE_CALLBACK_KEEP
                    case .failure(let error):
                        returnListen()
                        queue = core.listenFailed(request, reason: "\(error)")[...] + queue
                        continue
                    }
                }
                // Claimed (cluster-wide) before it is bound; a TCP port 0 listen once its port is known.
                var claim: (any ListenClaim)?
                if !request.isDynamicTCPListen {
                    switch claimListen(request, port: nil) {
                    case .granted(let held): claim = held
                    case .refused(let reason):
                        returnListen()
                        queue = core.listenFailed(request, reason: reason)[...] + queue
                        continue
                    }
                }
                do {
                    let forward = try RemoteForward(worker: self, request: request, dynamicRanges: ranges)
                    if request.isDynamicTCPListen {
                        switch claimListen(request, port: forward.boundPort) {
                        case .granted(let held): claim = held
                        case .refused(let reason):
                            forward.close()
                            returnListen()
                            queue = core.listenFailed(request, reason: reason)[...] + queue
                            continue
                        }
                    }
                    bound = forward
                    queue = adopt(forward, claim: claim)[...] + queue
                } catch {
                    claim?.release()
                    returnListen()
                    queue = core.listenFailed(request, reason: "\(error)")[...] + queue
                }
            case .unbind(let request):
                if let index = remoteForwards.firstIndex(where: { $0.request == request }) {
                    let forward = remoteForwards.remove(at: index)
                    listenEnded(forward)
                    if forward.withdrawName() {
                        report(.nameWithdrawn(session: id, request: request, reason: "cancelled by the client"))
                    }
                    forward.cancel()
                    cancelledForwards.append(forward)
                }
            case .close(let reason, let toClient):
                if closeReason == nil {
                    closeReason = reason
                    disconnectMessage = toClient
                }
            }
        }
        if let message, !answered {
            // Nothing to say (the session is ending): the request goes unanswered.
            ssh_message_free(message)
        }
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    /// `forward` is bound and claimed: it joins the session's forwards; returns what the core says next.
    func adopt(_ forward: RemoteForward, claim: (any ListenClaim)?) -> [SessionCore.Action] {
        forward.claim = claim
        remoteForwards.append(forward)
        listenBound(forward)
        return core.listenBound(forward.request, bound: forward.bound, port: forward.boundPort)
    }

    private static func send(_ reply: SessionCore.Answer, to message: OpaquePointer) {
        switch reply {
        case .authSuccess:
            ssh_message_auth_reply_success(message, 0)
        case .authKeyAcceptable:
            ssh_message_auth_reply_pk_ok_simple(message)
        case .authFailure, .requestFailure:
            ssh_message_reply_default(message)
        case .requestSuccess(let port):
            ssh_message_global_request_reply_success(message, UInt16(clamping: port))
        case .openFailure(let reason):
            ssh_message_channel_request_open_reply_failure(message, UInt32(SSH2_OPEN_ADMINISTRATIVELY_PROHIBITED), reason)
        }
    }
}
