import CLibSSH
import Foundation
import PortcullisPolicy

/// Errors that stop the server from starting.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The SSH server: owns the listening sockets, accepts connections on one thread, and hands each
/// session to the least busy of a small pool of event-loop threads (one per core by default).
public final class SSHServer: @unchecked Sendable {
    private let configuration: ServerConfiguration
    private let authority: any SessionAuthority
    private let recorder: any EventRecorder
    private var bind: OpaquePointer?
    private var listeners: [Int32] = []
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    private var acceptor: Thread?
    /// Signalled when the accept thread has left its loop and freed the bind.
    private let acceptorEnded = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var nextSessionID: UInt64 = 0
    private var stopping = false
    private let registry = WorkerRegistry()
    /// Set by `start()`: the record of the socket files this daemon creates under socket_root.
    private var socketFiles: SocketRegistry!
    private var loops: [EventLoop] = []
    /// The sessions running and what each key holds: the control socket's view, the per-key limits.
    public let live = LiveSessions()
    /// The names clients published (`ssh -R NAME:PORT:...`), shared by every session.
    public let names = NameTable()
    /// Admission before authentication, asked at every accept.
    private let admission: AdmissionControl

    /// The addresses the server accepts on, with the ports actually bound.
    public private(set) var endpoints: [Endpoint] = []

    /// Reports every event to `recorder`, and holds back each reply until its event is recorded.
    public init(configuration: ServerConfiguration, authority: any SessionAuthority, recorder: any EventRecorder) {
        self.configuration = configuration
        // Cluster mode: member links come in through their own door, never through the key policy.
        self.authority = configuration.peering.map {
            MemberAuthority(inner: authority, directory: $0.directory, proxyID: $0.proxyID)
        } ?? authority
        self.recorder = recorder
        admission = AdmissionControl(settings: configuration.admission, recorder: recorder, metrics: configuration.metrics)
        configuration.metrics?.sampleForwardedBytes { [live] in live.forwarded.read() }
        nextSessionID = configuration.firstSessionID - 1
    }

    /// Hands every event to `observer` as it happens.
    public convenience init(configuration: ServerConfiguration, authority: any SessionAuthority,
                            observer: @escaping @Sendable (ServerEvent) -> Void = { _ in }) {
        self.init(configuration: configuration, authority: authority, recorder: ObservingRecorder(observer))
    }

    deinit {
        stop()
    }

    /// Loads the host keys, binds every listen address and starts accepting. `beforeAccepting`
    /// runs once all is bound and before the first connection is accepted (the daemon drops
    /// root there); if it throws, nothing is accepted and its error is thrown.
    public func start(beforeAccepting: () throws -> Void = {}) throws {
        LibSSH.initialize()
        // A peer that hangs up must never end the process: a write to it fails with EPIPE instead.
        signal(SIGPIPE, SIG_IGN)
        bind = try makeBind()
        do {
            for address in configuration.listen {
                let fds = try Socket.listenTCP(host: address.host, port: address.port, backlog: Socket.sshBacklog)
                listeners += fds
                endpoints += fds.compactMap(Endpoint.local(of:))
            }
        } catch let error as SocketError {
            stop()
            throw ServerError(description: "cannot listen: \(error)")
        }
        let count = configuration.workerThreads > 0 ? configuration.workerThreads
                                                    : ProcessInfo.processInfo.activeProcessorCount
        loops = try (0..<max(1, count)).map { try EventLoop(name: "portcullis-worker-\($0)") }
        for loop in loops {
            recorder.onProgress { loop.recorderProgressed() }
        }
        // A member view that changed is checked at once, as a reload is: a removed member's link ends.
        configuration.peering?.directory.observeMembers { [weak self] in self?.rulesChanged() }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw ServerError(description: "pipe failed") }
        pipeFDs.forEach(Socket.makeNonBlocking)
        wake = (pipeFDs[0], pipeFDs[1])
        do {
            try beforeAccepting()
            // As the user the daemon runs as from here on: the record of its sockets is its own.
            try sweepSocketRoot()
        } catch {
            stop()
            throw error
        }
        let thread = Thread { [self] in
            acceptLoop()
            acceptorEnded.signal()
        }
        thread.name = "portcullis-accept"
        acceptor = thread
        thread.start()
    }

    /// Stops accepting, ends every session (each removes the socket files it created), and waits
    /// for them, at most `timeout` seconds; then ends the member links (cluster mode) and waits for
    /// the server's threads to leave their loops, so that nothing of it still runs when the process
    /// exits. Returns whether all sessions ended in time.
    @discardableResult
    public func shutdown(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        registry.beginStopping()
        stop()
        // Sessions of loops that had already been told to finish look again now.
        loops.forEach { $0.stepAll() }
        let clean = registry.waitForAll(deadline: deadline)
        // Relays ended with their sessions; the links under them close now, each with a disconnect.
        configuration.peering?.stop(timeout: 2)
        if acceptor != nil, acceptorEnded.wait(timeout: .now() + 2) == .success { acceptorEnded.signal() }
        if clean { loops.forEach { _ = $0.waitUntilEnded(deadline: Date().addingTimeInterval(2)) } }
        return clean
    }

    /// The rules changed (a reload): every session checks at once whether its key is still admitted.
    public func rulesChanged() {
        loops.forEach { $0.stepAll() }
    }

    /// New admission limits (a reload): they apply to the next connection; connections open and
    /// penalties outstanding carry over.
    public func admissionChanged(_ settings: StartupAdmission.Settings) {
        admission.update(settings)
    }

    /// The number of sessions running now.
    public var sessionCount: Int { registry.count }

    /// Stops accepting new connections. Sessions already running carry on until they end.
    public func stop() {
        lock.lock()
        let alreadyStopping = stopping
        stopping = true
        lock.unlock()
        guard !alreadyStopping else { return }
        loops.forEach { $0.finishWhenIdle() }
        if wake.write >= 0 {
            var byte: UInt8 = 1
            _ = write(wake.write, &byte, 1)
        }
    }

    /// Opens the record of the daemon's socket files and removes the stale ones a crash left;
    /// reports every other socket under socket_root, untouched.
    private func sweepSocketRoot() throws {
        let root = configuration.socketRoot
        do {
            socketFiles = try SocketRegistry(path: (root.hasSuffix("/") ? root : root + "/") + SocketRegistry.fileName)
        } catch {
            throw ServerError(description: "\(error)")
        }
        let sweep = UnixSocketFile.sweep(root: root, registry: socketFiles)
        for path in sweep.removed {
            _ = recorder.record(.staleSocketRemoved(path: path))
        }
        for (path, reason) in sweep.leftAlone {
            _ = recorder.record(.socketLeftAlone(path: path, reason: reason))
        }
        if let incomplete = sweep.incomplete {
            configuration.log.warn("socket-sweep", "socket_root sweep incomplete: \(incomplete)")
        }
    }

    private func makeBind() throws -> OpaquePointer {
        guard let bind = ssh_bind_new() else { throw ServerError(description: "ssh_bind_new failed") }
        var processConfig = false
        ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &processConfig)
        var hostKeyAlgorithms: [String] = []
        for path in configuration.hostKeys {
            var key: OpaquePointer?
            guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
                ssh_bind_free(bind)
                throw ServerError(description: "cannot load host key \(path)")
            }
            hostKeyAlgorithms += Algorithms.signatureAlgorithms(of: key)
            ssh_key_free(key)
            guard ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, path) == SSH_OK else {
                ssh_bind_free(bind)
                throw ServerError(description: "cannot use host key \(path): \(String(cString: ssh_get_error(UnsafeMutableRawPointer(bind))))")
            }
        }
        let algorithms = configuration.algorithms
        guard algorithms.hostKey.contains(where: hostKeyAlgorithms.contains) else {
            ssh_bind_free(bind)
            throw ServerError(description: "no host key can sign with any of host_key_algorithms "
                              + "(\(algorithms.hostKey.joined(separator: ", "))); the host keys can sign with "
                              + (hostKeyAlgorithms.isEmpty ? "nothing" : hostKeyAlgorithms.joined(separator: ", ")))
        }
        do {
            try algorithms.apply(to: bind)
        } catch {
            ssh_bind_free(bind)
            throw error
        }
        return bind
    }

    /// Accepts on every listener until stopped. Out of descriptors, it stops polling the
    /// listeners for a quarter of a second at a time (connections wait in the backlog) instead of
    /// spinning on a listener that stays readable, and says so at most every ten seconds.
    private func acceptLoop() {
        var polls = listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        polls.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
        var pausedUntil: UInt64 = 0
        // When refusals not yet in any audit record are due to be summed up in one.
        var reportAt: UInt64?
        while true {
            var now = Monotonic.now
            if let due = reportAt, due <= now {
                reportAt = admission.reportDue()
                now = Monotonic.now
            }
            let paused = pausedUntil > now
            for index in polls.indices.dropLast() {
                polls[index].events = paused ? 0 : Int16(POLLIN)
            }
            var timeout = paused ? Int32((pausedUntil - now) / 1_000_000 + 1) : -1
            if let due = reportAt {
                let untilDue = Int32(min(60_000, due > now ? (due - now) / 1_000_000 + 1 : 0))
                timeout = timeout < 0 ? untilDue : min(timeout, untilDue)
            }
            let ready = poll(&polls, nfds_t(polls.count), timeout)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || polls.last!.revents != 0 { break }
            for index in polls.indices.dropLast() where polls[index].revents & Int16(POLLIN) != 0 {
                accepting: while true {
                    switch Socket.accept(polls[index].fd) {
                    case .connection(let fd):
                        if !handOff(fd), reportAt == nil { reportAt = admission.reportDue() }
                    case .none:
                        break accepting
                    case .exhausted(let code):
                        pausedUntil = Monotonic.after(seconds: 0.25)
                        configuration.log.warn("accept", "cannot accept a connection: \(String(cString: strerror(code))); "
                                               + "new connections wait until descriptors are free")
                        break accepting
                    }
                }
            }
        }
        listeners.forEach { close($0) }
        listeners = []
        close(wake.read)
        close(wake.write)
        ssh_bind_free(bind)
        bind = nil
    }

    /// Starts a session on the connection `fd`, or refuses it (max_startups, per-source limit,
    /// penalty): then it is closed before a byte is sent, and false is returned.
    private func handOff(_ fd: Int32) -> Bool {
        let client = Endpoint.peer(of: fd) ?? Endpoint(host: "unknown", port: 0)
        let slot: AdmissionControl.Slot?
        switch admission.admit(client) {
        case .refused:
            close(fd)
            return false
        case .admitted(let admitted):
            slot = admitted
        }
        let server = Endpoint.local(of: fd) ?? Endpoint(host: "unknown", port: 0)
        Socket.setNoDelay(fd)
        // The socket stays non-blocking (libssh patch 0012): a client that stops reading must not
        // block the event loop it shares with other sessions.
        guard let session = ssh_new() else {
            slot.map { admission.ended($0.startup, .serverStopped) }
            close(fd)
            return true
        }
        guard ssh_bind_accept_fd(bind, session, fd) == SSH_OK else {
            slot.map { admission.ended($0.startup, .serverStopped) }
            ssh_free(session)
            close(fd)
            return true
        }
        lock.lock()
        nextSessionID += 1
        let id = nextSessionID
        lock.unlock()
        let worker = SessionWorker(id: id, session: session, client: client, server: server,
                                   configuration: configuration, authority: authority, registry: registry,
                                   socketFiles: socketFiles, names: names, recorder: recorder, live: live)
        worker.admissionSlot = slot
        registry.enter()
        guard loops.min(by: { $0.sessionCount < $1.sessionCount })?.adopt(worker) == true else {
            // The server is stopping: the session never starts.
            slot.map { admission.ended($0.startup, .serverStopped) }
            registry.leave()
            ssh_free(session)
            return true
        }
        return true
    }
}
