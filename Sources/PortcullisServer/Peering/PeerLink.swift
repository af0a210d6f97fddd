import CLibSSH
import Foundation
import PortcullisPolicy

/// One SSH connection from this proxy to another member, on a thread of its own: a libssh client
/// session that authenticates with this proxy's host key, checks the member's host key against
/// its member record (no trust on first use), and carries every relayed channel to that member.
/// When it dies, every channel on it fails with "proxy ID unreachable" and the next open makes a
/// new link.
final class PeerLink: @unchecked Sendable {
    let proxy: String
    private unowned let peering: Peering
    private let lock = NSLock()
    // Under `lock`.
    private var queued: [Request] = []
    private var deathReason: String?
    /// Why the link is to end, once asked (`stop`).
    private var stopReason: String?
    private var wakeFD: Int32
    /// Signalled once the link thread has closed its session (or never started one).
    private let ended = DispatchSemaphore(value: 0)
    private var started = false

    // The link thread's own.
    private var session: OpaquePointer?
    private var event: OpaquePointer?
    private var opening: [(request: Request, channel: OpaquePointer)] = []
    private var channels: [LinkChannel] = []

    struct Request {
        let relativePath: String
        let correlation: String
        /// A name open: `relativePath` is the name, opened as `direct-tcpip` NAME:PORT.
        let port: Int?
        let completion: @Sendable (Peering.Outcome) -> Void
    }

    init(proxy: String, peering: Peering) {
        self.proxy = proxy
        self.peering = peering
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    /// A link that is dead from the start with `deadReason`: every open on it fails with it.
    init(proxy: String, peering: Peering, deadReason: String) {
        self.proxy = proxy
        self.peering = peering
        wakeFD = -1
        deathReason = deadReason
    }

    var isDead: Bool {
        lock.lock()
        defer { lock.unlock() }
        return deathReason != nil
    }

    func start() {
        lock.withLock { started = true }
        let thread = Thread { [self] in
            run()
            ended.signal()
        }
        thread.name = "portcullis-link-\(proxy)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Queues an open; a dead link refuses it with its reason at once.
    func open(relativePath: String, correlation: String, port: Int? = nil,
              completion: @escaping @Sendable (Peering.Outcome) -> Void) {
        lock.lock()
        if let reason = deathReason {
            lock.unlock()
            completion(.failed(reason: reason, peer: proxy))
            return
        }
        queued.append(Request(relativePath: relativePath, correlation: correlation, port: port, completion: completion))
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        lock.unlock()
    }

    /// Asks the link thread to end the link: its channels fail with `reason`.
    func stop(reason: String = "this proxy is stopping") {
        lock.withLock {
            if stopReason == nil { stopReason = reason }
            if wakeFD >= 0 {
                var one: UInt64 = 1
                _ = write(wakeFD, &one, 8)
            }
        }
    }

    /// Waits until the link thread has closed its session, at most until `deadline`.
    func waitUntilEnded(deadline: Date) -> Bool {
        guard lock.withLock({ started }) else { return true }
        let seconds = max(0, deadline.timeIntervalSinceNow)
        guard ended.wait(timeout: .now() + seconds) == .success else { return false }
        ended.signal()
        return true
    }

    private var unreachable: String { "proxy \(proxy) unreachable" }

    private func run() {
        if let problem = connect() {
            die("\(unreachable): \(problem)")
            return
        }
        serve()
    }

    /// Connects, checks the member's host key and authenticates; a problem's description, or nil.
    private func connect() -> String? {
        let member: PeerMember
        do {
            guard let found = try peering.directory.member(proxy) else { return "no member record members/\(proxy)" }
            member = found
        } catch {
            return "the cluster registry is unreachable: \(error)"
        }
        guard let address = Self.split(member.advertise) else {
            return "members/\(proxy) advertises \(member.advertise), not host:port"
        }
        guard let session = ssh_new() else { return "out of memory" }
        self.session = session
        var port = UInt32(address.port)
        var timeout = Int(peering.connectTimeout)
        var no: Int32 = 0
        var yes: Int32 = 1
        let algorithms = Self.hostKeyAlgorithms(member.hostKey.algorithm)
        guard ssh_options_set(session, SSH_OPTIONS_HOST, address.host) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_PORT, &port) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_USER, peering.proxyID) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &no) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_COMPRESSION, "no") == SSH_OK,
              // Relayed interactive traffic is not held back by Nagle's algorithm.
              ssh_options_set(session, SSH_OPTIONS_NODELAY, &yes) == SSH_OK,
              ssh_options_set(session, SSH_OPTIONS_HOSTKEYS, algorithms) == SSH_OK
        else { return "cannot set up the link: \(errorText)" }
        guard ssh_connect(session) == SSH_OK else { return errorText }
        Self.endWhenSilent(ssh_get_fd(session))
        var serverKey: OpaquePointer?
        guard ssh_get_server_publickey(session, &serverKey) == SSH_OK, let serverKey else {
            return "no host key from \(member.advertise)"
        }
        let presented = PublicKey(libssh: serverKey)
        ssh_key_free(serverKey)
        guard let presented, presented.base64 == member.hostKey.base64 else {
            return "\(member.advertise) presented host key \(presented?.fingerprint ?? "(unreadable)"), "
                + "not \(member.hostKey.fingerprint) of members/\(proxy)"
        }
        guard ssh_userauth_publickey(session, nil, peering.identity.key) == SSH_AUTH_SUCCESS.rawValue else {
            return "it refused this proxy's host key (\(errorText.isEmpty ? "not a current member there?" : errorText))"
        }
        ssh_set_blocking(session, 0)
        guard let event = ssh_event_new() else { return "out of memory" }
        self.event = event
        ssh_event_add_session(event, session)
        return nil
    }

    /// Until the link dies: starts queued opens, moves the bytes of every channel.
    private func serve() {
        guard let session, let event else { return }
        var fds: [pollfd] = []
        while true {
            lock.lock()
            let arrived = queued
            queued = []
            let stopping = stopReason
            lock.unlock()
            if let stopping {
                arrived.forEach { $0.completion(.failed(reason: stopping, peer: proxy)) }
                die(stopping)
                return
            }
            for request in arrived { begin(request, on: session) }
            advanceOpens()
            for channel in channels { channel.service() }
            channels.removeAll { $0.isFinished }

            let status = ssh_get_status(session)
            if status & Int32(SSH_CLOSED | SSH_CLOSED_ERROR) != 0 {
                let said = errorText
                die("\(unreachable): " + (said.isEmpty || said == "Socket error: disconnected" ? "connection lost" : said))
                return
            }

            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            var libsshFDs: UnsafePointer<pollfd>?
            let count = ssh_event_get_pollfds(event, &libsshFDs)
            for index in 0..<Int(count) {
                fds.append(pollfd(fd: libsshFDs![index].fd, events: libsshFDs![index].events | Int16(POLLIN), revents: 0))
            }
            let first = fds.count
            for channel in channels { fds.append(pollfd(fd: channel.fd, events: channel.wantedEvents, revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), opening.isEmpty ? 200 : 10)
            if fds[0].revents != 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
            }
            // libssh polls its descriptors again inside: only when this poll found one of them ready
            // (a syscall saved per turn of a busy link).
            if fds[1..<first].contains(where: { $0.revents != 0 }) {
                _ = ssh_event_dopoll(event, 0)
            }
            for (index, channel) in channels.enumerated() where fds[first + index].revents != 0 {
                channel.socketEvent(Int32(fds[first + index].revents))
            }
        }
    }

    private func begin(_ request: Request, on session: OpaquePointer) {
        guard let channel = ssh_channel_new(session) else {
            request.completion(.failed(reason: "\(unreachable): cannot make a channel: \(errorText)", peer: proxy))
            return
        }
        opening.append((request, channel))
    }

    /// direct-streamlocal@openssh.com to the member, with the relative path, and the correlation
    /// id in the reserved string; for a name, direct-tcpip NAME:PORT with the id as originator.
    private func advanceOpens() {
        let current = opening
        opening = []
        for (request, channel) in current {
            let opened = if let port = request.port {
                ssh_channel_open_forward(channel, request.relativePath, Int32(port), request.correlation, 0)
            } else {
                ssh_channel_open_forward_unix(channel, request.relativePath, request.correlation, 0)
            }
            switch opened {
            case SSH_OK:
                var pair: [Int32] = [-1, -1]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                 0, &pair) == 0 else {
                    let reason = "cannot relay: socketpair: \(String(cString: strerror(errno)))"
                    ssh_channel_close(channel)
                    ssh_channel_free(channel)
                    request.completion(.failed(reason: reason, peer: proxy))
                    continue
                }
                let end = RelayEnd()
                channels.append(LinkChannel(channel: channel, fd: pair[0], end: end, proxy: proxy))
                request.completion(.relayed(fd: pair[1], end: end, peer: proxy))
            case SSH_AGAIN:
                opening.append((request, channel))
            default:
                let said = errorText
                ssh_channel_free(channel)
                request.completion(.failed(reason: "proxy \(proxy) refused the relay: \(Self.openFailure(said))", peer: proxy))
            }
        }
    }

    /// The link is over: every queued or open channel fails with `reason`, and later opens too.
    private func die(_ reason: String) {
        lock.lock()
        deathReason = reason
        let waiting = queued
        queued = []
        close(wakeFD)
        wakeFD = -1
        lock.unlock()
        waiting.forEach { $0.completion(.failed(reason: reason, peer: proxy)) }
        for (request, channel) in opening {
            ssh_channel_free(channel)
            request.completion(.failed(reason: reason, peer: proxy))
        }
        opening = []
        channels.forEach { $0.fail(reason) }
        channels = []
        if let event, let session {
            ssh_event_remove_session(event, session)
            ssh_event_free(event)
        }
        event = nil
        if let session {
            // The member sees why in its record of the link's end.
            ssh_session_set_disconnect_message(session, reason)
            ssh_disconnect(session)
            ssh_free(session)
        }
        session = nil
    }

    private var errorText: String {
        guard let session else { return "" }
        return String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
    }

    /// libssh's "Channel opening failure: channel N error (CODE) DESCRIPTION": the description.
    static func openFailure(_ text: String) -> String {
        guard let range = text.range(of: #"error \(\d+\) "#, options: .regularExpression) else { return text }
        return String(text[range.upperBound...])
    }

    /// A member that vanishes without closing the connection (its host down, the network cut) is
    /// noticed by the kernel: keep-alive probes after 10 s of silence, 3 of them 5 s apart, and at
    /// most 30 s for data sent to go unacknowledged. The link then dies ("proxy X unreachable")
    /// instead of holding its channels until TCP gives up after many minutes.
    static func endWhenSilent(_ fd: Int32) {
        guard fd >= 0 else { return }
        var on: Int32 = 1, idle: Int32 = 10, interval: Int32 = 5, count: Int32 = 3, unacknowledged: UInt32 = 30_000
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &unacknowledged, socklen_t(MemoryLayout<UInt32>.size))
    }

    /// `host:port` or `[v6]:port`.
    static func split(_ address: String) -> (host: String, port: UInt16)? {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]),
              port > 0 else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    /// The host key algorithms that make a server present a key of `algorithm`.
    static func hostKeyAlgorithms(_ algorithm: String) -> String {
        algorithm == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : algorithm
    }
}
