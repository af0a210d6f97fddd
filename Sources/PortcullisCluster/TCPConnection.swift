import Foundation

/// A blocking-free TCP connection of our own (POSIX sockets, no URLSession): every connect, write
/// and read waits with poll(2) against a deadline, so a black-holed peer cannot hang the caller.
final class TCPConnection {
    let endpoint: EtcdEndpoint
    private var fd: Int32
    /// The TLS session for an `https://` endpoint; nil for `http://`.
    private var tls: TLSSession?

    /// Connects to `endpoint` before `deadline` (with the TLS handshake, for https);
    /// `EtcdError.unreachable` otherwise.
    convenience init(to endpoint: EtcdEndpoint, deadline: Deadline) throws {
        try self.init(plain: endpoint, deadline: deadline)
        if let settings = endpoint.tls {
            tls = try TLSSession(fd: fd, endpoint: endpoint, tls: settings, deadline: deadline)
        }
    }

    private init(plain endpoint: EtcdEndpoint, deadline: Deadline) throws {
        self.endpoint = endpoint
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw EtcdError.unreachable(endpoint, "cannot resolve host: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let sock = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard sock >= 0 else { lastError = String(cString: strerror(errno)); continue }
            _ = fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(sock, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            TCPConnection.enableKeepalive(sock)
            if connect(sock, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                fd = sock
                return
            }
            guard errno == EINPROGRESS else { lastError = String(cString: strerror(errno)); Glibc.close(sock); continue }
            var pfd = pollfd(fd: sock, events: Int16(POLLOUT), revents: 0)
            let ready = TCPConnection.pollRetrying(&pfd, deadline)
            if ready == 0 { lastError = "no answer before the deadline"; Glibc.close(sock); continue }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(sock, SOL_SOCKET, SO_ERROR, &soError, &length)
            if ready < 0 || soError != 0 {
                lastError = String(cString: strerror(soError != 0 ? soError : errno))
                Glibc.close(sock)
                continue
            }
            fd = sock
            return
        }
        throw EtcdError.unreachable(endpoint, lastError)
    }

    deinit { close() }

    func close() {
        tls = nil
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }

    /// Writes all of `bytes` before `deadline`.
    func write(_ bytes: [UInt8], deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            if let tls {
                let events: Int16
                switch try tls.write(bytes[offset...]) {
                case .done(let n): offset += n; continue
                case .wantRead: events = Int16(POLLIN)
                case .wantWrite: events = Int16(POLLOUT)
                }
                var pfd = pollfd(fd: fd, events: events, revents: 0)
                if TCPConnection.pollRetrying(&pfd, deadline) == 0 { throw EtcdError.timedOut(endpoint, "sending the request") }
                continue
            }
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR else {
                throw EtcdError.badResponse(endpoint, "connection lost while sending: \(String(cString: strerror(errno)))")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if TCPConnection.pollRetrying(&pfd, deadline) == 0 { throw EtcdError.timedOut(endpoint, "sending the request") }
        }
    }

    /// Reads what is available (at most `max` bytes), waiting until `deadline`; empty at end of stream.
    /// `nil` deadline waits for as long as it takes, checking `cancelled` every 200 ms.
    func read(max: Int, deadline: Deadline?, cancelled: () -> Bool = { false }) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            var events = Int16(POLLIN)
            if let tls {
                switch try tls.read(&buffer) {
                case .done(let n): return Array(buffer[0..<n])
                case .wantRead: break
                case .wantWrite: events = Int16(POLLOUT)
                }
            } else {
                let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, max, 0) }
                if n >= 0 { return Array(buffer[0..<n]) }
                guard errno == EAGAIN || errno == EINTR else {
                    throw EtcdError.badResponse(endpoint, "connection lost while reading: \(String(cString: strerror(errno)))")
                }
            }
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            if let deadline {
                if TCPConnection.pollRetrying(&pfd, deadline) == 0 { throw EtcdError.timedOut(endpoint, "waiting for the response") }
            } else {
                if cancelled() { throw CancellationError() }
                _ = poll(&pfd, 1, 200)
            }
        }
    }

    /// TCP keepalive (idle 10 s, then 3 probes 5 s apart), so a watch that waits without a deadline
    /// still notices a peer that vanished without closing the connection.
    private static func enableKeepalive(_ sock: Int32) {
        let size = socklen_t(MemoryLayout<Int32>.size)
        var on: Int32 = 1, idle: Int32 = 10, interval: Int32 = 5, count: Int32 = 3
        setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(sock, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(sock, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(sock, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }

    /// poll(2) until ready or the deadline: >0 ready, 0 timed out, <0 error.
    static func pollRetrying(_ pfd: inout pollfd, _ deadline: Deadline) -> Int32 {
        while true {
            let rc = poll(&pfd, 1, deadline.millisecondsLeft)
            if rc < 0 && errno == EINTR { continue }
            return rc
        }
    }
}
