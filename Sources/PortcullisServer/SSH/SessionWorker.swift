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
    /// The record of the socket files this daemon created (`ssh -R /path`).
    let socketFiles: SocketRegistry
    /// The published names (`ssh -R NAME:PORT:...`), looked up before any DNS.
    let names: any NameDirectory
    private let registry: WorkerRegistry
    /// Replies waiting for the events they describe to be recorded.
    let replies: DeferredReplies
    /// What the control socket shows of the session, and what it counts against its key's limits.
    let live: SessionLiveState

    /// How many more times a step lets libssh read a socket that stays readable (after the first).
    private static let extraReadsPerStep = 4
    /// The loop that owns the session, from `start` on.
    private(set) unowned var loop: EventLoop!
    /// The session's own libssh event: its socket and nothing else, so that libssh, polling from
    /// inside a call made for this session, never runs another session's callbacks.
    private var event: OpaquePointer?
    private var socketWatch: Watch?
    /// The session's socket was reported ready since the last step.
    private var socketReady = false
    /// Steps in a row that saw the socket hung up without libssh ending the session: past a few,
    /// the session ends rather than have a level-triggered hang-up wake the loop forever.
    private var hangups = 0
    private var socketHungUp = false
    /// What the session decides (authentication, listens, the order of records and answers).
    var core: SessionCore
    /// The rules of the key that authenticated; nil until then.
    var rules: (any SessionRules)? { core.rules }
    /// The rules' generation the session last checked its key against.
    private var checkedGeneration: UInt64 = 0
    private var callbacks = UnsafeMutablePointer<ssh_server_callbacks_struct>.allocate(capacity: 1)
    var pumps: [ChannelPump] = []
    var remoteForwards: [RemoteForward] = []
    var cancelledForwards: [RemoteForward] = []
    var outbound: [OutboundConnection] = []
    /// `direct-tcpip` opens waiting for a host name to resolve.
    var resolving: [PendingResolution] = []
    /// `direct-streamlocal` opens waiting to learn whether another member holds the socket.
    var relaying: [PendingRelay] = []
    /// `direct-tcpip` opens to a name waiting to learn whether another member publishes it.
    var nameLookups: [PendingNameLookup] = []
    /// Name publishes waiting to learn whether the name is also a host name.
    var publishing: [PendingPublish] = []
    /// Listens waiting for their claim in the cluster registry, in the order asked.
    var claiming: [PendingClaim] = []
    /// Global requests that came while a claim was pending: taken up after it, in order.
    var heldGlobalRequests: [OpaquePointer] = []
    /// Session channels of clients that asked for a shell; freed when the session ends.
    var sessionChannels: [OpaquePointer] = []
    private var nextChannelID: UInt64 = 0
    var closeReason: String?
    /// What the client is told on the way out, if anything (SSH_MSG_DISCONNECT's description).
    var disconnectMessage: String?
    private var keyExchanged = false
    private var finished = false
    private var loginDeadline = UInt64.max
    private let startedAt = ContinuousClock.now
    /// The connection's place among the unauthenticated ones (max_startups and the per-source
    /// limit), given back when it authenticates; if it ends first, how it ended is reported
    /// (per_source_penalties). Nil: not counted.
    var admissionSlot: AdmissionControl.Slot?
    /// The login grace time ran out (a penalty of its own).
    private var graceExpired = false
    /// Dead-peer and idle watch (SessionWorker+Alive), from authentication on.
    var aliveWatch: SessionAliveWatch?
    private var totals = (channels: UInt64(0), toClient: UInt64(0), fromClient: UInt64(0))

    init(id: UInt64, session: OpaquePointer, client: Endpoint, server: Endpoint,
         configuration: ServerConfiguration, authority: any SessionAuthority, registry: WorkerRegistry,
         socketFiles: SocketRegistry, names: any NameDirectory, recorder: any EventRecorder, live: LiveSessions) {
        self.registry = registry
        self.names = names
        self.live = SessionLiveState(sessions: live)
        self.socketFiles = socketFiles
        self.id = id
        self.session = session
        self.client = client
        self.server = server
        self.configuration = configuration
        self.authority = authority
        self.recorder = recorder
        self.replies = DeferredReplies(recorder: recorder)
        self.core = SessionCore(session: id, client: client, maxAuthTries: configuration.maxAuthTries)
        self.checkedGeneration = authority.generation
    }

    deinit {
        callbacks.deallocate()
    }

    /// The session's event loop: from now on it is driven by `step()` on that loop's thread.
    func start(in loop: EventLoop) {
        self.loop = loop
        enterLive()
        report(.sessionOpened(session: id, client: client, server: server))
        loginDeadline = Monotonic.after(seconds: TimeInterval(configuration.loginGraceTime))
        installCallbacks()
        ssh_set_blocking(session, 0)
        // The first call sends the banner and puts the session's socket under libssh's polling,
        // which ssh_event_add_session then moves into the session's own event.
        advanceKeyExchange()
        event = ssh_event_new()
        if let event {
            ssh_event_add_session(event, session)
        } else {
            closeReason = "cannot make a libssh event (out of memory)"
        }
        let fd = ssh_get_fd(session)
        if fd >= 0 {
            socketWatch = loop.watch(fd, for: self) { [unowned self] revents in
                socketReady = true
                if revents & UInt32(POLLHUP | POLLERR) != 0 { socketHungUp = true }
            }
        }
    }

    /// Between two turns of the loop, when something concerning the session happened: lets libssh
    /// read and write the session's socket if it was ready (the key exchange, authentication and
    /// every message go through callbacks from here), enforces the login limits, and carries out
    /// queued work. Returns false once the session is over.
    func step() -> Bool {
        if socketReady {
            socketReady = false
            if keyExchanged || rules != nil {
                // A busy socket is read a few times per step (libssh takes up to 64 KiB a time):
                // bulk data then costs fewer turns of the loop, while one session still cannot
                // hold its loop for long.
                if let event {
                    var extra = 0
                    while ssh_event_dopoll(event, 0) == SSH_OK && extra < Self.extraReadsPerStep && socketStillOpen() {
                        extra += 1
                    }
                }
            } else {
                advanceKeyExchange()
            }
            _ = socketStillOpen()
        }
        if socketHungUp {
            socketHungUp = false
            hangups += 1
            if hangups > 16 && closeReason == nil { closeReason = "connection lost: the socket hung up" }
        } else {
            hangups = 0
        }
        if closeReason == nil { closeReason = reasonToClose() }
        if closeReason == nil { closeReason = checkAlive() }
        guard closeReason == nil else { return false }
        // A session can get through the key exchange and authenticate within one poll: libssh's
        // ssh_handle_key_exchange then never returns SSH_OK (it waits for the state right after
        // the exchange), so an authenticated session counts as exchanged.
        if !keyExchanged && rules != nil {
            keyExchanged = true
        }
        if rules != nil, let slot = admissionSlot {
            admissionSlot = nil
            slot.control.authenticated(slot.startup)
        }
        guard keyExchanged else { return true }
        service()
        return closeReason == nil
    }

    /// Watches the session's socket for what libssh wants now (reading always; writing while it
    /// holds output the socket did not take).
    func watchSocket() {
        guard let event, let socketWatch, socketStillOpen() else { return }
        var fds: UnsafePointer<pollfd>?
        let count = ssh_event_get_pollfds(event, &fds)
        var wanted: UInt32 = 0
        for index in 0..<count where fds![index].fd == socketWatch.fd {
            wanted |= UInt32(UInt16(bitPattern: fds![index].events))
        }
        socketWatch.set(wanted & UInt32(POLLIN | POLLOUT))
    }

    /// Whether the session's socket is still the one watched. libssh closes it by itself when the
    /// connection ends (end of file, an error); the watch is then dropped without asking epoll
    /// anything by that number, which another connection may have been given meanwhile.
    private func socketStillOpen() -> Bool {
        guard let socketWatch else { return false }
        if ssh_get_fd(session) == socketWatch.fd { return true }
        socketWatch.forgetClosed()
        return false
    }

    /// Whether the session waits for audit records to be written (replies held back, listeners
    /// paused while the recorder is congested).
    var awaitsRecorder: Bool {
        !replies.isEmpty || remoteForwards.contains { $0.isPausedForRecorder }
    }

    /// When the session has something due without any descriptor becoming ready.
    var nextDeadline: UInt64? {
        var earliest = rules == nil ? loginDeadline : UInt64.max
        if let alive = aliveDeadline { earliest = min(earliest, alive) }
        for connection in outbound {
            if let deadline = connection.deadline { earliest = min(earliest, deadline) }
        }
        for pending in resolving where pending.result == nil {
            earliest = min(earliest, pending.deadline)
        }
        for pending in publishing where pending.result == nil {
            earliest = min(earliest, pending.deadline)
        }
        for forward in remoteForwards {
            if let deadline = forward.resumeAt { earliest = min(earliest, deadline) }
        }
        return earliest == .max ? nil : earliest
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

    private func reasonToClose() -> String? {
        let status = ssh_get_status(session)
        if status & Int32(SSH_CLOSED | SSH_CLOSED_ERROR) != 0 {
            let said = String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
            let ended = rules == nil ? "disconnected before authenticating" : "client disconnected"
            // A protocol violation (data past the window, say) or a socket error is named, not
            // passed off as a hang-up; libssh's words for a plain end of file are left out.
            let plain = said.isEmpty || said == "Socket error: disconnected"
            return status & Int32(SSH_CLOSED_ERROR) != 0 && !plain ? "\(ended): \(said)" : ended
        }
        if rules == nil && Monotonic.now > loginDeadline {
            graceExpired = true
            perform(core.loginGraceExpired(), about: nil)
        }
        if registry.isStopping {
            return "server shutting down"
        }
        if let reason = administratorDisconnect {
            disconnectMessage = reason
            return reason
        }
        if authority.generation != checkedGeneration {
            checkedGeneration = authority.generation
            perform(core.rulesChanged(authority: authority), about: nil)
        }
        return closeReason
    }

    /// libssh's last error for the session, or what is known about the connection when libssh
    /// has no words for it: a reason is never empty.
    var lastError: String {
        let text = String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
        if !text.isEmpty { return text }
        let status = ssh_get_status(session)
        if status & Int32(SSH_CLOSED_ERROR) != 0 { return "connection error" }
        if status & Int32(SSH_CLOSED) != 0 { return "connection closed by the client" }
        return "unknown libssh error"
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
        serviceResolutions()
        serviceNameLookups()
        serviceRelays()
        servicePublishes()
        serviceClaims()
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
            forward.service(recorderCongested: congested)
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
        for pending in resolving {
            pending.request?.cancel()
            ssh_message_free(pending.attempt.message)
        }
        resolving = []
        abandonNameLookups()
        abandonRelays()
        abandonClaims(reason: reason)
        for pending in publishing {
            pending.request?.cancel()
            ssh_message_free(pending.message)
        }
        publishing = []
        sessionChannels.forEach { ssh_channel_free($0) }
        sessionChannels = []
        for pump in pumps {
            pump.tearDown(reason: "session ended: \(reason)")
        }
        pumps = []
        for forward in remoteForwards + cancelledForwards {
            // A listen whose claim was lost (fencing) is recorded as ended for that reason.
            if let lost = forward.claim?.lostReason {
                report(.forwardFailed(session: id, request: forward.request, reason: lost))
            }
            if forward.withdrawName() { report(.nameWithdrawn(session: id, request: forward.request, reason: "session ended: \(reason)")) }
            forward.close()
        }
        remoteForwards = []
        cancelledForwards = []
        if socketStillOpen() { socketWatch?.cancel() }
        socketWatch = nil
        if let event {
            ssh_event_remove_session(event, session)
            ssh_event_free(event)
            self.event = nil
        }
        if let disconnectMessage { ssh_session_set_disconnect_message(session, disconnectMessage) }
        ssh_disconnect(session)
        ssh_free(session)
        leaveLive()
        let duration = startedAt.duration(to: .now)
        report(.sessionClosed(session: id, reason: reason, duration: duration.seconds, channels: totals.channels,
                              bytesToClient: totals.toClient, bytesFromClient: totals.fromClient))
        reportUnauthenticatedEnd()
        registry.leave()
    }

    /// An unauthenticated session ended: tells admission how, so that its source is charged the
    /// penalty for it (none when the server is stopping).
    private func reportUnauthenticatedEnd() {
        guard let slot = admissionSlot else { return }
        admissionSlot = nil
        guard rules == nil else {
            slot.control.authenticated(slot.startup)
            return
        }
        let ending: StartupAdmission.Ending =
            graceExpired ? .graceExceeded
            : core.authFailures > 0 ? .authFailed
            : registry.isStopping ? .serverStopped
            : .noAuth
        slot.control.ended(slot.startup, ending)
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
            return holdGlobalRequest(message) ?? handleGlobalRequest(message)
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
