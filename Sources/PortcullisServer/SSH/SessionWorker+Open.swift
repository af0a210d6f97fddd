import CLibSSH
import Foundation
import PortcullisPolicy

extension SessionWorker {
    /// `direct-tcpip` and `direct-streamlocal@openssh.com` (the client's -L, -W, -J), and the
    /// session channel of a client that forgot -N. A malformed open (libssh's reason, or a host,
    /// path or originator that is not UTF-8) is recorded and refused with the reason, unread.
    func handleChannelOpen(_ message: OpaquePointer, rules: any SessionRules) -> Int32 {
        let subtype = UInt32(ssh_message_subtype(message))
        let name: String
        let field: String
        switch subtype {
        case SSH_CHANNEL_DIRECT_TCPIP.rawValue: (name, field) = ("direct-tcpip", "host")
        case SSH_CHANNEL_DIRECT_STREAMLOCAL.rawValue: (name, field) = ("direct-streamlocal@openssh.com", "socket path")
        case SSH_CHANNEL_SESSION.rawValue:
            return openShellRefusal(message)
        default:
            // X11, agent forwarding: never offered.
            return 1
        }
        let port = Int(ssh_message_channel_request_open_destination_port(message))
        func forward(_ destination: String) -> ForwardRequest {
            subtype == SSH_CHANNEL_DIRECT_TCPIP.rawValue
                ? .tcpOpen(host: destination, port: port) : .streamLocalOpen(path: destination)
        }
        if let reason = malformedReason(message) {
            return perform(core.refuseMalformed(.init(kind: forward("").kind, target: nil, reason: reason,
                                                      isOpen: true)), about: message)
        }
        let originatorField = subtype == SSH_CHANNEL_DIRECT_TCPIP.rawValue ? "originator address" : "reserved string"
        let destination: String
        let originatorHost: String
        let limit = subtype == SSH_CHANNEL_DIRECT_TCPIP.rawValue ? WireText.hostLimit : WireText.pathLimit
        switch (WireText.decode(ssh_message_channel_request_open_destination(message), named: field, of: name, limit: limit),
                WireText.decode(ssh_message_channel_request_open_originator(message), named: originatorField, of: name,
                                limit: WireText.hostLimit)) {
        case (.success(let target), .success(let origin)):
            (destination, originatorHost) = (target, origin)
        case (.failure(let bad), _):
            return perform(core.refuseMalformed(.init(kind: forward("").kind, target: forward(bad.escaped).target,
                                                      reason: bad.reason, isOpen: true)), about: message)
        case (.success(let target), .failure(let bad)):
            return perform(core.refuseMalformed(.init(kind: forward("").kind, target: forward(target).target,
                                                      reason: bad.reason, isOpen: true)), about: message)
        }
        let originator = Endpoint(host: originatorHost,
                                  port: Int(ssh_message_channel_request_open_originator_port(message))).description
        var request = forward(destination)
        let channel = makeChannelID()
        // A member link names the socket relative to socket_root, and its correlation id in the
        // reserved string (SessionWorker+Relay).
        var member: MemberOpen?
        if let rules = rules as? MemberRules, subtype == SSH_CHANNEL_DIRECT_STREAMLOCAL.rawValue {
            switch memberOpen(relativePath: destination, correlation: originatorHost, rules: rules) {
            case .success(let open):
                member = open
                request = .streamLocalOpen(path: open.path)
            case .failure(let refusal):
                return perform(core.refuseMalformed(.init(kind: request.kind, target: request.target,
                                                          reason: refusal.reason, isOpen: true)), about: message)
            }
        }
        // A member link names a published name as a direct-tcpip NAME:PORT, with the correlation id
        // as originator (SessionWorker+ClusterNames).
        var memberName: (rules: MemberRules, correlation: String)?
        // (Any other host is a TCP open, which the member rules refuse.)
        if let rules = rules as? MemberRules, subtype == SSH_CHANNEL_DIRECT_TCPIP.rawValue,
           ServiceName.isNameRequest(destination) {
            guard Self.isCorrelationID(originatorHost) else {
                return perform(core.refuseMalformed(.init(
                    kind: request.kind, target: request.target,
                    reason: "member \(rules.member): the correlation id (originator address) must be 1 to 128 "
                        + "letters, digits, '.', '-', '_' or ':' characters", isOpen: true)), about: message)
            }
            memberName = (rules, originatorHost)
        }
        var attempt = OpenAttempt(message: message, request: request, channel: channel,
                                  originator: member.map { "relay \($0.correlation) from proxy \($0.rules.member)" }
                                      ?? memberName.map { "relay \($0.correlation) from proxy \($0.rules.member)" }
                                      ?? originator)
        // max_channels, counted from the request on: opens still connecting hold descriptors too.
        switch takeChannel() {
        case .success(let slot):
            attempt.slot = slot
        case .failure(let refusal):
            _ = record(.deny(reason: refusal.reason), for: attempt)
            return SSH_MESSAGE_CALLBACK_KEEP
        }
        if case .tcpOpen(let host, let port) = request {
            if let memberName {
                serveMemberName(attempt, name: host, port: port, correlation: memberName.correlation, rules: memberName.rules)
                return SSH_MESSAGE_CALLBACK_KEEP
            }
            if ServiceName.isNameRequest(host), let holder = names.lookup(host) {
                openName(attempt, name: host, port: port, holder: holder)
                return SSH_MESSAGE_CALLBACK_KEEP
            }
            if ServiceName.isNameRequest(host), ServiceName.problem(host) == nil, let peering = configuration.peering {
                openRemoteName(attempt, name: host, port: port, peering: peering)
                return SSH_MESSAGE_CALLBACK_KEEP
            }
            openTCP(attempt, host: host, port: port)
            return SSH_MESSAGE_CALLBACK_KEEP
        }
        let decision = rules.decide(request)
        guard record(decision, for: attempt) else { return SSH_MESSAGE_CALLBACK_KEEP }
        guard case .streamLocalOpen(let path) = request else { return 1 }
        if let member {
            serveMember(attempt, open: member)
            return SSH_MESSAGE_CALLBACK_KEEP
        }
        if let peering = configuration.peering, let relativePath = relativeToRoot(path), !servesLocally(path) {
            relay(attempt, path: path, relativePath: relativePath, rules: rules, peering: peering)
            return SSH_MESSAGE_CALLBACK_KEEP
        }
        connectLocal(attempt, path: path, rules: rules)
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    /// Opens the socket at `path` on this host, as a single proxy does.
    func connectLocal(_ attempt: OpenAttempt, path: String, rules: any SessionRules) {
        do {
            let fd = try UnixSocketFile.connect(path: path) { resolved in
                guard resolved != path else { return nil }
                if case .deny(let reason) = rules.decide(.streamLocalOpen(path: resolved)) {
                    return "\(path) resolves to \(resolved): \(reason)"
                }
                return nil
            }
            opened(attempt, fd: fd)
        } catch {
            failed(attempt, reason: "\(error)")
        }
    }

    /// Records the decision on `attempt`; a refusal is sent once recorded. Returns whether allowed.
    func record(_ decision: Decision, for attempt: OpenAttempt) -> Bool {
        let ticket = report(.forwardRequested(session: id, request: attempt.request, decision: decision,
                                              channel: attempt.channel, originator: attempt.originator))
        if case .deny(let reason) = decision {
            _ = answer(attempt.message, after: ticket) {
                ssh_message_channel_request_open_reply_failure($0, UInt32(SSH2_OPEN_ADMINISTRATIVELY_PROHIBITED), reason)
            }
            return false
        }
        return true
    }

    /// A `direct-tcpip` open, as the core plans it: refused without any lookup when no rule could
    /// allow it, connected at once to a numeric host, or resolved off the loop (`HostResolver`).
    func openTCP(_ attempt: OpenAttempt, host: String, port: Int) {
        let numeric = Socket.numericAddress(host: host, port: port)
        switch core.planTCPOpen(host: host, port: port, numericAddress: numeric?.host) {
        case .refuse(.deny(let reason)) where ServiceName.isNameRequest(host) && ServiceName.problem(host) == nil:
            _ = record(.deny(reason: "\(reason); no name \(host) is published here"), for: attempt)
        case .refuse(let decision):
            _ = record(decision, for: attempt)
        case .connect(let decision, let allowed):
            guard record(decision, for: attempt), let numeric else { return }
            connect(attempt, to: allowed.contains(numeric.host) ? [numeric] : [])
        case .resolveToConnect(let decision):
            guard record(decision, for: attempt) else { return }
            resolve(attempt, host: host, port: port, decided: true)
        case .resolveToDecide:
            resolve(attempt, host: host, port: port, decided: false)
        }
    }

    private func resolve(_ attempt: OpenAttempt, host: String, port: Int, decided: Bool) {
        let pending = PendingResolution(attempt: attempt, host: host, port: port, decided: decided,
                                        deadline: Monotonic.after(seconds: configuration.resolveTimeout))
        let loop = self.loop!
        pending.request = HostResolver.shared.resolve(host: host, port: port) { [weak self] result in
            loop.post {
                pending.result = result
                if let self { loop.markDue(self) }
            }
        }
        guard pending.request != nil else {
            conclude(pending, with: .failure(SocketError("resolve \(host): too many names waiting for the resolver", code: 0)))
            return
        }
        resolving.append(pending)
    }

    /// Between polls: opens whose names resolved go on; those past their deadline are refused.
    func serviceResolutions() {
        guard !resolving.isEmpty else { return }
        let now = Monotonic.now
        let current = resolving
        resolving = []
        for pending in current {
            if let result = pending.result {
                conclude(pending, with: result)
            } else if now >= pending.deadline {
                pending.request?.cancel()
                let seconds = configuration.resolveTimeout
                let limit = seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
                conclude(pending, with: .failure(SocketError("resolve \(pending.host): no answer within \(limit) s", code: 0)))
            } else {
                resolving.append(pending)
            }
        }
    }

    private func conclude(_ pending: PendingResolution, with result: Result<[SocketAddress], SocketError>) {
        let attempt = pending.attempt
        if pending.decided {
            switch result {
            case .success(let addresses): connect(attempt, to: addresses)
            case .failure(let error): failed(attempt, reason: "\(error)")
            }
            return
        }
        let (decision, allowed) = core.decideResolved(
            host: pending.host, port: pending.port,
            addresses: result.map { $0.map(\.host) }.mapError { SessionCore.ResolveFailure(reason: "\($0)") })
        guard record(decision, for: attempt), case .success(let addresses) = result else { return }
        connect(attempt, to: addresses.filter { allowed.contains($0.host) })
    }

    private func connect(_ attempt: OpenAttempt, to addresses: [SocketAddress]) {
        outbound.append(OutboundConnection(worker: self, attempt: attempt, candidates: addresses))
    }

    /// The connection for `attempt` is made: record the channel, then accept it and start moving bytes.
    func opened(_ attempt: OpenAttempt, fd: Int32, relay: RelayEnd? = nil) {
        let ticket = report(.channelOpened(session: id, channel: attempt.channel, request: attempt.request,
                                           originator: attempt.originator))
        let opened = ContinuousClock.now
        replies.add(after: ticket, send: { [self] in
            defer { ssh_message_free(attempt.message) }
            guard let channel = ssh_message_channel_request_open_reply_accept(attempt.message) else {
                relay?.abortByConsumer()
                close(fd)
                report(.channelClosed(session: id, channel: attempt.channel, request: attempt.request,
                                      bytesToClient: 0, bytesFromClient: 0, duration: opened.duration(to: .now).seconds,
                                      reason: "channel could not be confirmed: \(lastError)"))
                return
            }
            let pump = ChannelPump(worker: self, channel: channel, fd: fd, request: attempt.request,
                                   channelID: attempt.channel)
            if let relay {
                pump.relay = relay
                let loop = self.loop!
                relay.onFailure { [weak self] in
                    loop.post { if let self { loop.markDue(self) } }
                }
            }
            track(pump, slot: attempt.slot)
            pumps.append(pump)
        }, abandon: { [self] in
            relay?.abortByConsumer()
            close(fd)
            ssh_message_free(attempt.message)
            report(.channelClosed(session: id, channel: attempt.channel, request: attempt.request,
                                  bytesToClient: 0, bytesFromClient: 0, duration: opened.duration(to: .now).seconds,
                                  reason: "session closed"))
        })
    }

    /// The connection for `attempt` could not be made: record why, then refuse the open with it.
    /// The client prints the reason code's name ("connect failed") before this description.
    func failed(_ attempt: OpenAttempt, reason: String) {
        let ticket = report(.forwardFailed(session: id, request: attempt.request, reason: reason, channel: attempt.channel))
        _ = answer(attempt.message, after: ticket) {
            ssh_message_channel_request_open_reply_failure($0, UInt32(SSH2_OPEN_CONNECT_FAILED), reason)
        }
    }

    /// `ssh proxy` without -N: the session channel is accepted so that the client can be told,
    /// on its stderr, that this server only forwards; its shell or command request ends it.
    private func openShellRefusal(_ message: OpaquePointer) -> Int32 {
        // Closed ones are let go (libssh keeps each until the client's close too); at most
        // `maxSessionChannels` stay open, as sshd's MaxSessions.
        sessionChannels.removeAll { channel in
            guard ssh_channel_is_closed(channel) != 0 else { return false }
            ssh_channel_free(channel)
            return true
        }
        guard sessionChannels.count < Self.maxSessionChannels else {
            ssh_message_channel_request_open_reply_failure(message, UInt32(SSH2_OPEN_ADMINISTRATIVELY_PROHIBITED),
                                                           "too many session channels (at most \(Self.maxSessionChannels))")
            return 0
        }
        guard let channel = ssh_message_channel_request_open_reply_accept(message) else { return 0 }
        sessionChannels.append(channel)
        return 0
    }

    /// Session channels (a client that forgot -N) one connection may hold open: sshd's
    /// MaxSessions default.
    static let maxSessionChannels = 10

    func handleChannelRequest(_ message: OpaquePointer) -> Int32 {
        guard let channel = ssh_message_channel_request_channel(message),
              sessionChannels.contains(channel) else { return 1 }
        switch UInt32(ssh_message_subtype(message)) {
        case SSH_CHANNEL_REQUEST_SHELL.rawValue, SSH_CHANNEL_REQUEST_EXEC.rawValue,
             SSH_CHANNEL_REQUEST_SUBSYSTEM.rawValue:
            ssh_message_channel_request_reply_success(message)
            let notice = "This server only forwards ports and sockets: use ssh -N.\r\n"
            _ = notice.withCString { ssh_channel_write_stderr(channel, $0, UInt32(strlen($0))) }
            ssh_channel_request_send_exit_status(channel, 1)
            ssh_channel_send_eof(channel)
            ssh_channel_close(channel)
            return 0
        default:
            // No pty, no environment, no agent or X11 forwarding.
            return 1
        }
    }

    /// A connection arrived on one of this session's remote forwards (for a name: a consumer's,
    /// from `originator`): open a channel to the client.
    func accepted(_ fd: Int32, on forward: RemoteForward, originator consumer: Endpoint? = nil) {
        let slot: KeySlot
        switch takeChannel(.arrival) {
        case .success(let taken):
            slot = taken
        case .failure(let refusal):
            close(fd)
            report(.forwardFailed(session: id, request: forward.request, reason: refusal.reason))
            return
        }
        guard let channel = ssh_channel_new(session) else {
            close(fd)
            return
        }
        let originator = consumer ?? Endpoint.peer(of: fd)
        let pump = ChannelPump(worker: self, channel: channel, fd: fd, request: forward.request)
        track(pump, slot: slot)
        pump.open { channel in
            switch forward.request {
            case .tcpListen(let host, _):
                ssh_channel_open_reverse_forward(channel, host, Int32(forward.boundPort),
                                                 originator?.host ?? "127.0.0.1", Int32(originator?.port ?? 0))
            case .streamLocalListen(let path):
                ssh_channel_open_reverse_forward_unix(channel, path)
            case .namePublish(let name, let port):
                // forwarded-tcpip naming the name and port the client published, so that its
                // -R NAME:PORT:... matches it.
                ssh_channel_open_reverse_forward(channel, name, Int32(port),
                                                 originator?.host ?? "127.0.0.1", Int32(originator?.port ?? 0))
            default:
                SSH_ERROR
            }
        }
        pumps.append(pump)
        pump.announceWhenOpen(originator: originator?.description ?? forward.bound)
    }
}

/// A `direct-tcpip` open whose host name is being resolved off the loop.
final class PendingResolution: @unchecked Sendable {
    let attempt: OpenAttempt
    let host: String
    let port: Int
    /// Allowed by name already (the addresses are only to connect to); false: the decision waits
    /// for the addresses (a CIDR rule).
    let decided: Bool
    let deadline: UInt64
    var request: HostResolver.Request?
    /// Set on the loop's thread when the resolver answers.
    var result: Result<[SocketAddress], SocketError>?

    init(attempt: OpenAttempt, host: String, port: Int, decided: Bool, deadline: UInt64) {
        self.attempt = attempt
        self.host = host
        self.port = port
        self.decided = decided
        self.deadline = deadline
    }
}

/// A client's channel open that was allowed, while its connection is being made.
struct OpenAttempt: @unchecked Sendable {
    /// The client's request, kept unanswered until the connection is made or has failed.
    let message: OpaquePointer
    /// What it asks for (a `direct-tcpip` to a published name becomes a `nameOpen`).
    var request: ForwardRequest
    let channel: UInt64
    let originator: String
    /// Its place in the key's max_channels, given back when the open ends without a channel.
    var slot: KeySlot?
}
