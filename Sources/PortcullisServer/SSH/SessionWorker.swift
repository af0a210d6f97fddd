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
    /// The server's address the client connected to.
    let server: Endpoint
    let configuration: ServerConfiguration
    let authority: any SessionAuthority
    let recorder: any EventRecorder
    private let registry: WorkerRegistry
    /// Replies waiting for the events they describe to be recorded.
    let replies: DeferredReplies

    private(set) var event: OpaquePointer?
    /// The rules of the key that authenticated; nil until then.
    var rules: (any SessionRules)?
    /// Who authenticated, to ask the authority again after a reload.
    var login: (user: String, key: PublicKey, generation: UInt64)?
    var authFailures = 0
    private var callbacks = UnsafeMutablePointer<ssh_server_callbacks_struct>.allocate(capacity: 1)
    var pumps: [ChannelPump] = []
    var remoteForwards: [RemoteForward] = []
    var cancelledForwards: [RemoteForward] = []
    var outbound: [OutboundConnection] = []
    /// Session channels of clients that asked for a shell; freed when the session ends.
    var sessionChannels: [OpaquePointer] = []
    private var nextChannelID: UInt64 = 0
    private var closeReason: String?
    private var keyExchanged = false
    private var finished = false
    private var loginDeadline = Date.distantFuture
    private let startedAt = ContinuousClock.now
    private var totals = (channels: UInt64(0), toClient: UInt64(0), fromClient: UInt64(0))

    init(id: UInt64, session: OpaquePointer, client: Endpoint, server: Endpoint,
         configuration: ServerConfiguration, authority: any SessionAuthority, registry: WorkerRegistry,
         recorder: any EventRecorder) {
        self.registry = registry
        self.id = id
        self.session = session
        self.client = client
        self.server = server
        self.configuration = configuration
        self.authority = authority
        self.recorder = recorder
        self.replies = DeferredReplies(recorder: recorder)
    }

    deinit {
        callbacks.deallocate()
    }

    /// The session's event loop: from now on it is driven by `step()` on that loop's thread.
    func start(in event: OpaquePointer) {
        self.event = event
        report(.sessionOpened(session: id, client: client, server: server))
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
        if case .refused(let reason, _) = authority.admit(user: login.user, key: login.key, client: client) {
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

    /// Hands `event` to the recorder, keeping the session's totals; returns its ticket.
    @discardableResult
    func report(_ event: ServerEvent) -> UInt64 {
        switch event {
        case .channelOpened:
            totals.channels += 1
        case .channelClosed(_, _, _, let toClient, let fromClient, _, _):
            totals.toClient += toClient
            totals.fromClient += fromClient
        default:
            break
        }
        return recorder.record(event)
    }

    /// Answers `message` with `reply` once `ticket` is recorded, then frees it. For a message
    /// callback to return: the message is the session's until then.
    func answer(_ message: OpaquePointer, after ticket: UInt64, _ reply: @escaping (OpaquePointer) -> Void) -> Int32 {
        replies.add(after: ticket, send: {
            reply(message)
            ssh_message_free(message)
        }, abandon: {
            ssh_message_free(message)
        })
        return SSH_MESSAGE_CALLBACK_KEEP
    }

    // MARK: - Work between polls

    /// Carries out what callbacks queued: channel opens in progress, paused pumps whose window
    /// reopened, pumps that finished, forwards that were cancelled.
    private func service() {
        replies.sendDue()
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
        // While the recorder lags behind, forwards take no new connections.
        let congested = recorder.isCongested
        for forward in remoteForwards {
            if congested { forward.pause() } else { forward.register() }
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
        replies.abandonAll()
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
        let duration = startedAt.duration(to: .now)
        report(.sessionClosed(session: id, reason: reason, duration: duration.seconds, channels: totals.channels,
                              bytesToClient: totals.toClient, bytesFromClient: totals.fromClient))
        registry.leave()
    }

    // MARK: - libssh callbacks

    private func installCallbacks() {
        portcullis_server_callbacks_init(callbacks)
        ssh_set_server_callbacks(session, callbacks)
        ssh_set_auth_methods(session, Int32(SSH_AUTH_METHOD_PUBLICKEY))
        // Everything, authentication included, comes as messages: a message can be kept and
        // answered once the event it is about has been recorded.
        ssh_set_message_callback(session, { _, message, userdata in
            let worker = Unmanaged<SessionWorker>.fromOpaque(userdata!).takeUnretainedValue()
            return worker.handle(message!)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Every message from the client. Returns 1 to have libssh send its default (refusing) reply,
    /// 0 when the reply was sent, or `SSH_MESSAGE_CALLBACK_KEEP` when it will be.
    private func handle(_ message: OpaquePointer) -> Int32 {
        if Int32(ssh_message_type(message)) == Int32(SSH_REQUEST_AUTH.rawValue) {
            return handleAuthentication(message)
        }
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
}

extension Duration {
    /// The duration in seconds, to the microsecond.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds / 1_000_000_000_000) / 1_000_000
    }
}
