import CLibSSH
import Foundation
import PortcullisPolicy

extension SessionWorker {
    /// Claims `request` for this session (`configuration.listenClaims`): in cluster mode the
    /// tunnel registry, so that no other session on any proxy serves the same listen.
    func claimListen(_ request: ForwardRequest, port: Int?) -> ListenClaimDecision {
        configuration.listenClaims.claim(request, port: port, session: id, key: rules?.keyName ?? "")
    }

    /// Where claims that wait on the cluster registry are made, a session always on the same queue.
    static let claimQueues = BlockingQueues(label: "portcullis-listen-claims")

    /// A listen whose claim waits on the cluster registry (`ListenClaims.waitsOnNetwork`): claimed
    /// off the loop, bound (or refused with the registry's reason) on the loop once it answers, and
    /// `rest` carried out then; the client's request (`message`) waits unanswered meanwhile, and
    /// the session's later global requests wait behind it, so that replies keep their order. A TCP
    /// port 0 listen is bound first and claimed with its port; the error if that bind fails.
    func claimOffLoop(_ request: ForwardRequest, ranges: [ClosedRange<Int>]?, message: OpaquePointer?,
                      rest: ArraySlice<SessionCore.Action>, after ticket: UInt64) -> Result<Void, any Error> {
        var forward: RemoteForward?
        if request.isDynamicTCPListen {
            do {
                forward = try RemoteForward(worker: self, request: request, dynamicRanges: ranges)
            } catch {
                return .failure(error)
            }
        }
        let pending = PendingClaim(request: request, ranges: ranges, message: message, rest: rest, ticket: ticket,
                                   forward: forward)
        claiming.append(pending)
        let loop = self.loop!
        let claims = configuration.listenClaims
        let (session, key, port) = (id, rules?.keyName ?? "", forward?.boundPort)
        Self.claimQueues.queue(for: id).async { [weak self] in
            let outcome = claims.claim(request, port: port, session: session, key: key)
            loop.post {
                pending.outcome = outcome
                if pending.abandoned {
                    pending.discard()
                } else if let self {
                    loop.markDue(self)
                }
            }
        }
        return .success(())
    }

    /// Between polls: listens whose claim was answered are bound (or refused) and answered, in
    /// the order asked; then the global requests that waited behind them are taken up.
    func serviceClaims() {
        guard claiming.first?.outcome != nil || (claiming.isEmpty && !heldGlobalRequests.isEmpty) else { return }
        while let pending = claiming.first, let outcome = pending.outcome {
            claiming.removeFirst()
            conclude(pending, outcome)
        }
        while claiming.isEmpty, !heldGlobalRequests.isEmpty {
            let message = heldGlobalRequests.removeFirst()
            if handleGlobalRequest(message) == 1 {
                ssh_message_reply_default(message)
                ssh_message_free(message)
            }
        }
    }

    /// A global request that came while a listen's claim is pending waits for it (nil), or is
    /// taken up now (what a message callback returns).
    func holdGlobalRequest(_ message: OpaquePointer) -> Int32? {
        guard !claiming.isEmpty || !heldGlobalRequests.isEmpty else { return nil }
        heldGlobalRequests.append(message)
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    private func conclude(_ pending: PendingClaim, _ outcome: ListenClaimDecision) {
        let request = pending.request
        var actions: [SessionCore.Action]
        var bound: RemoteForward?
        switch outcome {
        case .refused(let reason):
            pending.forward?.close()
            returnListen()
            actions = core.listenFailed(request, reason: reason)
        case .granted(let claim):
            do {
                let forward = try pending.forward ?? RemoteForward(worker: self, request: request, dynamicRanges: pending.ranges)
                bound = forward
                actions = adopt(forward, claim: claim)
            } catch {
                claim?.release()
                returnListen()
                actions = core.listenFailed(request, reason: "\(error)")
            }
        }
        pending.forward = nil
        carryOut(actions[...] + pending.rest, about: pending.message, after: pending.ticket, bound: bound)
    }

    /// The session is ending (`reason`): listens still waiting for their claim are recorded as
    /// failed, saying so; a claim granted after this is released at once (`PendingClaim.discard`).
    func abandonClaims(reason: String) {
        for pending in claiming {
            pending.abandoned = true
            pending.discard()
            pending.forward?.close()
            pending.forward = nil
            returnListen()
            report(.forwardFailed(session: id, request: pending.request,
                                  reason: "session ended while the listen was being claimed: \(reason)"))
            if let message = pending.message { ssh_message_free(message) }
        }
        claiming = []
        heldGlobalRequests.forEach { ssh_message_free($0) }
        heldGlobalRequests = []
    }
}

/// A listen while its claim is asked of the cluster registry, off the loop.
final class PendingClaim: @unchecked Sendable {
    let request: ForwardRequest
    let ranges: [ClosedRange<Int>]?
    /// The client's request, answered once the claim is concluded (nil: nothing to answer).
    let message: OpaquePointer?
    /// What the core decided after the bind, carried out then.
    let rest: ArraySlice<SessionCore.Action>
    /// The latest record's ticket before the bind.
    let ticket: UInt64
    /// A TCP port 0 listen: bound already, claimed with the port bound.
    var forward: RemoteForward?
    /// Set on the loop's thread when the registry answered.
    var outcome: ListenClaimDecision?
    /// The session ended first.
    var abandoned = false

    init(request: ForwardRequest, ranges: [ClosedRange<Int>]?, message: OpaquePointer?,
         rest: ArraySlice<SessionCore.Action>, ticket: UInt64, forward: RemoteForward?) {
        self.request = request
        self.ranges = ranges
        self.message = message
        self.rest = rest
        self.ticket = ticket
        self.forward = forward
    }

    /// Lets go of a claim granted for a session that has ended: it is released, not left in the registry.
    func discard() {
        if case .granted(let claim) = outcome { claim?.release() }
        outcome = nil
    }
}

extension ForwardRequest {
    /// A TCP listen of port 0: its port is the server's choice, so it is claimed once bound.
    var isDynamicTCPListen: Bool {
        if case .tcpListen(_, 0) = self { return true }
        return false
    }
}
