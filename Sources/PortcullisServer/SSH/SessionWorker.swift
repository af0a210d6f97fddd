import CLibSSH
import Foundation
import PortcullisPolicy

/// One client connection, from key exchange to disconnect, driven by the event loop that owns it.
/// The session, its channels, its listeners and its sockets are touched from that loop's thread only.
///
/// libssh may call back into this object from inside any libssh call (a blocking flush, a channel
/// open polling for its answer), so callbacks only change state and queue work; file descriptors
/// are added to or removed from the event only between two polls, in `service()`.
final class SessionWorker: @unchecked Sendable {
    let id: UInt64
    let session: OpaquePointer
    let client: Endpoint
    let configuration: ServerConfiguration
    let authority: any SessionAuthority
    let observer: @Sendable (ServerEvent) -> Void
    private let registry: WorkerRegistry

    private(set) var event: OpaquePointer?
    private var rules: (any SessionRules)?
    /// Who authenticated, to ask the authority again after a reload.
    private var login: (user: String, key: PublicKey, generation: UInt64)?
    private var authFailures = 0
    private var callbacks = UnsafeMutablePointer<ssh_server_callbacks_struct>.allocate(capacity: 1)
    private var pumps: [ChannelPump] = []
    private var remoteForwards: [RemoteForward] = []
    private var cancelledForwards: [RemoteForward] = []
    private var outbound: [OutboundConnection] = []
    /// Session channels of clients that asked for a shell; freed when the session ends.
    private var sessionChannels: [OpaquePointer] = []
    private var nextChannelID: UInt64 = 0
    private var closeReason: String?
    private var keyExchanged = false
    private var finished = false
    private var loginDeadline = Date.distantFuture

    init(id: UInt64, session: OpaquePointer, client: Endpoint, configuration: ServerConfiguration,
         authority: any SessionAuthority, registry: WorkerRegistry,
         observer: @escaping @Sendable (ServerEvent) -> Void) {
        self.registry = registry
        self.id = id
        self.session = session
        self.client = client
        self.configuration = configuration
        self.authority = authority
        self.observer = observer
    }

    deinit {
        callbacks.deallocate()
    }

    /// The session's event loop: from now on it is driven by `step()` on that loop's thread.
    func start(in event: OpaquePointer) {
        self.event = event
        observer(.sessionOpened(session: id, client: client))
        loginDeadline = Date().addingTimeInterval(TimeInterval(configuration.loginGraceTime))
        installCallbacks()
        ssh_set_blocking(session, 0)
        // The first call sends the banner and puts the session's socket under libssh's polling,
        // which ssh_event_add_session then moves into this loop's event.
        advanceKeyExchange()
        ssh_event_add_session(event, session)
    }

    /// Between two polls of the loop: advances the key exchange, enforces the login limits, and
    /// carries out queued work. Returns false once the session is over.
    func step() -> Bool {
        if closeReason == nil { closeReason = reasonToClose() }
        guard closeReason == nil else { return false }
        // A session can get through the key exchange and authenticate within one poll (or within
        // another session's ssh_handle_key_exchange, which polls the whole event): libssh's
        // ssh_handle_key_exchange then never returns SSH_OK (it waits for the state right after
        // the exchange), so an authenticated session counts as exchanged.
        if !keyExchanged && rules != nil {
            keyExchanged = true
        }
        if !keyExchanged {
            advanceKeyExchange()
            return closeReason == nil
        }
        service()
        return true
    }

    private func advanceKeyExchange() {
        switch ssh_handle_key_exchange(session) {
        case SSH_OK:
            keyExchanged = true
        case SSH_AGAIN:
            break
        default:
            closeReason = "key exchange failed: \(lastError)"
        }
    }

    var isFinished: Bool { finished }

    private func reasonToClose() -> String? {
        if (ssh_get_status(session) & Int32(SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 {
            return rules == nil ? "disconnected before authenticating" : "client disconnected"
        }
        if rules == nil && Date() > loginDeadline {
            return "login grace time exceeded"
        }
        if authFailures >= configuration.maxAuthTries {
            return "too many authentication failures"
        }
        if registry.isStopping {
            return "server shutting down"
        }
        return revokedByReload()
    }

    /// After a reload: why this session's key may no longer be used, or nil.
    private func revokedByReload() -> String? {
        guard let login, login.generation != authority.generation else { return nil }
        self.login?.generation = authority.generation
        if case .refused(let reason) = authority.admit(user: login.user, key: login.key, client: client) {
            return "key no longer admitted after reload: \(reason)"
        }
        return nil
    }

    var lastError: String {
        String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
    }

    /// A fresh identifier for a channel of this session, for logs.
    func makeChannelID() -> UInt64 {
        nextChannelID += 1
        return nextChannelID
    }

    // MARK: - Work between polls

    /// Carries out what callbacks queued: channel opens in progress, paused pumps whose window
    /// reopened, pumps that finished, forwards that were cancelled.
    private func service() {
        let connecting = outbound
        for connection in connecting {
            connection.service()
        }
        outbound.removeAll { $0.isDone }
        for pump in pumps {
            pump.service()
        }
        let finished = pumps.filter(\.isFinished)
        if !finished.isEmpty {
            pumps.removeAll { $0.isFinished }
            for pump in finished {
                pump.tearDown()
            }
        }
        for forward in remoteForwards {
            forward.register()
        }
        let cancelled = cancelledForwards
        cancelledForwards = []
        cancelled.forEach { $0.close() }
    }

    /// Ends the session: closes its forwards and channels, removes the socket files it created,
    /// and leaves the event loop.
    func finish() {
        guard !finished else { return }
        finished = true
        let reason = closeReason ?? "closed"
        outbound.forEach { $0.abandon() }
        outbound = []
        sessionChannels.forEach { ssh_channel_free($0) }
        sessionChannels = []
        for pump in pumps {
            pump.tearDown(reason: "session closed")
        }
        pumps = []
        for forward in remoteForwards + cancelledForwards {
            forward.close()
        }
        remoteForwards = []
        cancelledForwards = []
        if let event {
            ssh_event_remove_session(event, session)
            self.event = nil
        }
        ssh_disconnect(session)
        ssh_free(session)
        observer(.sessionClosed(session: id, reason: reason))
        registry.leave()
    }

    // MARK: - libssh callbacks

    private func installCallbacks() {
        portcullis_server_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.auth_pubkey_function = { _, user, key, state, userdata in
            let worker = Unmanaged<SessionWorker>.fromOpaque(userdata!).takeUnretainedValue()
            return worker.authenticate(user: user.map { String(cString: $0) } ?? "", key: key, state: state)
        }
        ssh_set_server_callbacks(session, callbacks)
        ssh_set_auth_methods(session, Int32(SSH_AUTH_METHOD_PUBLICKEY))
        ssh_set_message_callback(session, { _, message, userdata in
            let worker = Unmanaged<SessionWorker>.fromOpaque(userdata!).takeUnretainedValue()
            return worker.handle(message!)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Public-key authentication: a probe (no signature yet) or a signed attempt.
    private func authenticate(user: String, key: OpaquePointer?, state: CChar) -> Int32 {
        guard let key, let publicKey = PublicKey(libssh: key) else {
            authFailures += 1
            return SSH_AUTH_DENIED.rawValue
        }
        let admission = authority.admit(user: user, key: publicKey, client: client)
        switch (admission, Int32(state)) {
        case (.admitted, Int32(SSH_PUBLICKEY_STATE_NONE.rawValue)):
            return SSH_AUTH_SUCCESS.rawValue
        case (.admitted(let sessionRules), Int32(SSH_PUBLICKEY_STATE_VALID.rawValue)):
            rules = sessionRules
            login = (user, publicKey, authority.generation)
            observer(.authenticated(session: id, user: user, key: publicKey, keyName: sessionRules.keyName))
            return SSH_AUTH_SUCCESS.rawValue
        case (.admitted, _):
            authFailures += 1
            observer(.authRefused(session: id, user: user, key: publicKey, reason: "invalid signature"))
            return SSH_AUTH_DENIED.rawValue
        case (.refused(let reason), _):
            authFailures += 1
            observer(.authRefused(session: id, user: user, key: publicKey, reason: reason))
            return SSH_AUTH_DENIED.rawValue
        }
    }

    /// Every message the server callbacks do not take. Returns 0 when it sent the reply itself,
    /// 1 to have libssh send its default (refusing) reply.
    private func handle(_ message: OpaquePointer) -> Int32 {
        // Nothing is forwarded for a client that has not authenticated.
        guard let rules else { return 1 }
        switch Int32(ssh_message_type(message)) {
        case Int32(SSH_REQUEST_GLOBAL.rawValue):
            return handleGlobalRequest(message, rules: rules)
        case Int32(SSH_REQUEST_CHANNEL_OPEN.rawValue):
            return handleChannelOpen(message, rules: rules)
        case Int32(SSH_REQUEST_CHANNEL.rawValue):
            return handleChannelRequest(message)
        default:
            return 1
        }
    }

    private func handleGlobalRequest(_ message: OpaquePointer, rules: any SessionRules) -> Int32 {
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

    private func listen(_ request: ForwardRequest, rules: any SessionRules, message: OpaquePointer) -> Int32 {
        let decision = rules.decide(request)
        observer(.forwardRequested(session: id, request: request, decision: decision))
        guard decision.isAllowed else { return 1 }
        if remoteForwards.contains(where: { $0.request == request }) {
            observer(.forwardFailed(session: id, request: request, reason: "already forwarded in this session"))
            return 1
        }
        do {
            var ranges: [ClosedRange<Int>]?
            if case .tcpListen(let host, 0) = request {
                let allowed = rules.dynamicPortRanges(host: host)
                ranges = allowed == [1024...65535] ? nil : allowed
            }
            let forward = try RemoteForward(worker: self, request: request, dynamicRanges: ranges)
            remoteForwards.append(forward)
            observer(.forwardBound(session: id, request: request, bound: forward.bound))
            ssh_message_global_request_reply_success(message, UInt16(forward.boundPort))
            return 0
        } catch {
            observer(.forwardFailed(session: id, request: request, reason: "\(error)"))
            return 1
        }
    }

    private func cancel(_ request: ForwardRequest, message: OpaquePointer) -> Int32 {
        guard let index = remoteForwards.firstIndex(where: { $0.request == request }) else { return 1 }
        let forward = remoteForwards.remove(at: index)
        forward.cancel()
        cancelledForwards.append(forward)
        observer(.forwardCancelled(session: id, request: request))
        ssh_message_global_request_reply_success(message, 0)
        return 0
    }

    private func handleChannelOpen(_ message: OpaquePointer, rules: any SessionRules) -> Int32 {
        let destination = ssh_message_channel_request_open_destination(message).map { String(cString: $0) } ?? ""
        let originator = Endpoint(
            host: ssh_message_channel_request_open_originator(message).map { String(cString: $0) } ?? "",
            port: Int(ssh_message_channel_request_open_originator_port(message))).description
        let request: ForwardRequest
        switch UInt32(ssh_message_subtype(message)) {
        case SSH_CHANNEL_DIRECT_TCPIP.rawValue:
            request = .tcpOpen(host: destination,
                               port: Int(ssh_message_channel_request_open_destination_port(message)))
        case SSH_CHANNEL_DIRECT_STREAMLOCAL.rawValue:
            request = .streamLocalOpen(path: destination)
        case SSH_CHANNEL_SESSION.rawValue:
            return openShellRefusal(message)
        default:
            // X11, agent forwarding: never offered.
            return 1
        }
        // A TCP target is resolved first: a CIDR rule grants only the addresses inside it.
        var candidates: [SocketAddress] = []
        var resolveError: Error?
        let decision: Decision
        if case .tcpOpen(let host, let port) = request {
            do {
                candidates = try Socket.resolve(host: host, port: port)
            } catch {
                resolveError = error
            }
            let allowed: [String]
            (decision, allowed) = rules.decideOpen(host: host, port: port,
                                                   resolvedAddresses: candidates.map(\.host))
            candidates = candidates.filter { allowed.contains($0.host) }
        } else {
            decision = rules.decide(request)
        }
        observer(.forwardRequested(session: id, request: request, decision: decision))
        guard decision.isAllowed else {
            if case .deny(let reason) = decision {
                ssh_message_channel_request_open_reply_failure(
                    message, UInt32(SSH2_OPEN_ADMINISTRATIVELY_PROHIBITED), reason)
            }
            return 0
        }
        let connection: OutboundConnection
        do {
            switch request {
            case .tcpOpen:
                if let resolveError { throw resolveError }
                connection = OutboundConnection(worker: self, message: message, request: request,
                                                originator: originator, candidates: candidates)
            case .streamLocalOpen(let path):
                let fd = try UnixSocketFile.connect(path: path) { resolved in
                    guard resolved != path else { return nil }
                    if case .deny(let reason) = rules.decide(.streamLocalOpen(path: resolved)) {
                        return "\(path) resolves to \(resolved): \(reason)"
                    }
                    return nil
                }
                connection = OutboundConnection(worker: self, message: message, request: request,
                                                originator: originator, connected: fd)
            default:
                return 1
            }
        } catch {
            // The client prints the reason code's name ("connect failed") before this description.
            let reason = "\(error)"
            observer(.forwardFailed(session: id, request: request, reason: reason))
            ssh_message_channel_request_open_reply_failure(message, UInt32(SSH2_OPEN_CONNECT_FAILED), reason)
            return 0
        }
        outbound.append(connection)
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    /// `ssh proxy` without -N: the session channel is accepted so that the client can be told,
    /// on its stderr, that this server only forwards; its shell or command request ends it.
    private func openShellRefusal(_ message: OpaquePointer) -> Int32 {
        guard let channel = ssh_message_channel_request_open_reply_accept(message) else { return 0 }
        sessionChannels.append(channel)
        return 0
    }

    private func handleChannelRequest(_ message: OpaquePointer) -> Int32 {
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

    /// A channel was accepted and its pump made: start moving bytes.
    func started(_ pump: ChannelPump, originator: String) {
        pumps.append(pump)
        observer(.channelOpened(session: id, channel: pump.channelID, request: pump.request,
                                originator: originator))
    }

    /// A connection arrived on one of this session's remote forwards: open a channel to the client.
    func accepted(_ fd: Int32, on forward: RemoteForward) {
        guard let channel = ssh_channel_new(session) else {
            close(fd)
            return
        }
        let originator = Endpoint.peer(of: fd)
        let pump = ChannelPump(worker: self, channel: channel, fd: fd, request: forward.request)
        pump.open { channel in
            switch forward.request {
            case .tcpListen(let host, _):
                ssh_channel_open_reverse_forward(channel, host, Int32(forward.boundPort),
                                                 originator?.host ?? "127.0.0.1", Int32(originator?.port ?? 0))
            case .streamLocalListen(let path):
                ssh_channel_open_reverse_forward_unix(channel, path)
            default:
                SSH_ERROR
            }
        }
        pumps.append(pump)
        pump.announceWhenOpen(originator: originator?.description ?? forward.bound)
    }
}
