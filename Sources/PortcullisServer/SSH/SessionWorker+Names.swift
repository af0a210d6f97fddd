import CLibSSH
import Foundation
import PortcullisPolicy

extension SessionWorker {
    /// A name publish the rules allow, with `names_may_shadow_hosts` off: the name is looked up
    /// off the loop first. If it resolves, it is a host this daemon could reach and the publish is
    /// refused, so that a name never hides a host; if the resolver cannot say (no answer in time,
    /// a failing server), it is refused too. Only "no such host" lets it go on to the core.
    func publishUnlessHostName(_ request: ForwardRequest, name: String, message: OpaquePointer) -> Int32 {
        let pending = PendingPublish(message: message, request: request, name: name,
                                     deadline: Monotonic.after(seconds: configuration.resolveTimeout))
        let loop = self.loop!
        guard case .namePublish(_, let port) = request else { return 1 }
        pending.request = HostResolver.shared.resolve(host: name, port: port) { [weak self] result in
            loop.post {
                pending.result = result
                if let self { loop.markDue(self) }
            }
        }
        guard pending.request != nil else {
            concludePublish(pending, with: .failure(SocketError("resolve \(name): too many names waiting for the resolver", code: 0)))
            return SSH_MESSAGE_CALLBACK_KEEP
        }
        publishing.append(pending)
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    /// Between polls: publishes whose lookup answered go on; those past their deadline are refused.
    func servicePublishes() {
        guard !publishing.isEmpty else { return }
        let now = Monotonic.now
        let current = publishing
        publishing = []
        for pending in current {
            if let result = pending.result {
                concludePublish(pending, with: result)
            } else if now >= pending.deadline {
                pending.request?.cancel()
                let seconds = configuration.resolveTimeout
                let limit = seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
                concludePublish(pending, with: .failure(SocketError("resolve \(pending.name): no answer within \(limit) s", code: 0)))
            } else {
                publishing.append(pending)
            }
        }
    }

    private func concludePublish(_ pending: PendingPublish, with result: Result<[SocketAddress], SocketError>) {
        let refusal: String
        switch result {
        case .success(let addresses):
            let hosts = addresses.map(\.host).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            refusal = "name \(pending.name) is also a host name here (resolves to \(hosts.joined(separator: ", "))), "
                + "and names_may_shadow_hosts is off"
        case .failure(let error) where error.resolverCode == EAI_NONAME || error.resolverCode == Self.eaiNoData:
            perform(core.listen(pending.forward), about: pending.message)
            return
        case .failure(let error):
            refusal = "cannot tell whether name \(pending.name) is also a host name (\(error)); names_may_shadow_hosts is off"
        }
        perform([.record(.forwardRequested(session: id, request: pending.forward, decision: .deny(reason: refusal))),
                 .answer(.requestFailure)], about: pending.message)
    }

    /// glibc's `EAI_NODATA` (a GNU extension Swift does not import): the name exists, without addresses.
    static let eaiNoData: Int32 = -5

    /// A `direct-tcpip` to a published name (looked up before any DNS): decided by
    /// `permit_name_open` and recorded as a `name-open`; allowed, it becomes a connected socket
    /// pair, one end handed to the holder's session (a `forwarded-tcpip` channel to the sharer),
    /// the other this channel's.
    func openName(_ attempt: OpenAttempt, name: String, port: Int, holder: NameHolder) {
        var attempt = attempt
        attempt.request = .nameOpen(name: name, port: port)
        var decision = rules?.decide(attempt.request) ?? .deny(reason: "not authenticated")
        if decision.isAllowed, holder.port != port {
            decision = .deny(reason: "name \(name) is published on port \(holder.port), not \(port)")
        }
        guard record(decision, for: attempt) else { return }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                         0, &pair) == 0 else {
            failed(attempt, reason: "\(SocketError("socketpair"))")
            return
        }
        holder.deliver(pair[1], client)
        opened(attempt, fd: pair[0])
    }
}

/// A name publish waiting to learn whether the name is also a host name.
final class PendingPublish: @unchecked Sendable {
    /// The client's `tcpip-forward`, kept unanswered until then.
    let message: OpaquePointer
    let forward: ForwardRequest
    let name: String
    let deadline: UInt64
    var request: HostResolver.Request?
    /// Set on the loop's thread when the resolver answers.
    var result: Result<[SocketAddress], SocketError>?

    init(message: OpaquePointer, request: ForwardRequest, name: String, deadline: UInt64) {
        self.message = message
        self.forward = request
        self.name = name
        self.deadline = deadline
    }
}
