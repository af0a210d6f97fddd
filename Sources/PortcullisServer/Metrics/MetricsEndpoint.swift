import CLibSSH
import Foundation

/// The HTTP/1.1 responder for Prometheus: `GET /metrics` only (404 for another path, 405 for
/// another method, 400 for what is not a request line, 431 for a request past 8 KiB), one
/// response per connection. Runs on its own thread with poll(): it never touches the SSH event
/// loops, serves several scrapers at once, and drops a connection that has not been answered
/// within the timeout.
public final class MetricsEndpoint: @unchecked Sendable {
    /// The largest request head read.
    static let maxRequest = 8192
    /// Connections served at once; more wait in the listen backlog.
    static let maxConnections = 16

    private let listeners: [Int32]
    private let render: @Sendable () -> String
    private let timeout: Double
    private var wake: (read: Int32, write: Int32) = (-1, -1)
    private var thread: Thread?
    private let stopped = NSCondition()
    private var running = false

    /// The address and port bound (the port the kernel chose for port 0).
    public let endpoints: [Endpoint]

    /// Binds `host`:`port` (numeric); throws a ``ServerError`` naming metrics_listen and the address if it cannot.
    public init(host: String, port: Int, timeout: Double = 5, render: @escaping @Sendable () -> String) throws {
        do {
            listeners = try Socket.listenTCP(host: host, port: port, backlog: 64)
        } catch {
            throw ServerError(description: "metrics_listen \(Endpoint(host: host, port: port)): cannot listen: \(error)")
        }
        endpoints = listeners.compactMap(Endpoint.local(of:))
        self.render = render
        self.timeout = timeout
    }

    deinit {
        stop()
        listeners.forEach { close($0) }
    }

    /// Starts serving on a thread of its own.
    public func start() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        fds.forEach(Socket.makeNonBlocking)
        wake = (fds[0], fds[1])
        running = true
        let thread = Thread { [self] in serve() }
        thread.name = "portcullis-metrics"
        self.thread = thread
        thread.start()
    }

    /// Stops serving and waits for the thread to end.
    public func stop() {
        guard wake.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        stopped.lock()
        while running { stopped.wait() }
        stopped.unlock()
        close(wake.read)
        close(wake.write)
        wake = (-1, -1)
    }

    /// One scraper's connection.
    private struct Connection {
        let fd: Int32
        var request: [UInt8] = []
        var response: [UInt8] = []
        var sent = 0
        let deadline: UInt64
    }

    private func serve() {
        var connections: [Connection] = []
        /// Until when accepting pauses after the process ran out of descriptors.
        var pausedUntil: UInt64 = 0
        loop: while true {
            var polls = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            polls += connections.map {
                pollfd(fd: $0.fd, events: Int16($0.response.isEmpty ? POLLIN : POLLOUT), revents: 0)
            }
            // A connection that has not sent its request yet gives way to a new one when all the
            // slots are taken: silent connections cannot keep a scraper out.
            let now = Monotonic.now
            let accepting = now >= pausedUntil
                && (connections.count < Self.maxConnections || connections.contains { $0.response.isEmpty })
            let listenerBase = polls.count
            if accepting {
                polls += listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            }
            var nearest = connections.map(\.deadline).min()
            if now < pausedUntil { nearest = min(nearest ?? pausedUntil, pausedUntil) }
            let wait = nearest.map { $0 > now ? Int32(min(1000, ($0 - now) / 1_000_000 + 1)) : 0 } ?? 1000
            let count = poll(&polls, nfds_t(polls.count), wait)
            if count < 0 && errno != EINTR { usleep(10_000) }
            if polls[0].revents != 0 { break loop }
            // Those already connected first: a scraper whose request is in is answered, never evicted.
            var keep: [Connection] = []
            for (offset, var connection) in connections.enumerated() {
                let ready = polls[1 + offset].revents != 0
                if ready && !advance(&connection) {
                    close(connection.fd)
                } else if Monotonic.now > connection.deadline {
                    close(connection.fd)
                } else {
                    keep.append(connection)
                }
            }
            connections = keep
            guard accepting else { continue }
            for (offset, listener) in listeners.enumerated() where polls[listenerBase + offset].revents != 0 {
                if connections.count >= Self.maxConnections {
                    guard let oldest = connections.firstIndex(where: { $0.response.isEmpty }) else { break }
                    close(connections.remove(at: oldest).fd)
                }
                switch Socket.accept(listener) {
                case .connection(let fd):
                    connections.append(Connection(fd: fd, deadline: Monotonic.after(seconds: timeout)))
                case .none:
                    break
                case .exhausted:
                    pausedUntil = Monotonic.after(seconds: 0.25)
                }
            }
        }
        connections.forEach { close($0.fd) }
        stopped.lock()
        running = false
        stopped.broadcast()
        stopped.unlock()
    }

    /// Reads the request or writes the response; false once the connection is done with.
    private func advance(_ connection: inout Connection) -> Bool {
        if connection.response.isEmpty {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = read(connection.fd, &buffer, buffer.count)
            if got < 0 { return errno == EAGAIN || errno == EINTR }
            if got == 0 { return false }
            connection.request += buffer[0..<got]
            if let response = respond(to: connection.request) {
                connection.response = response
                shutdown(connection.fd, Int32(SHUT_RD))
            }
            return true
        }
        let left = connection.response.count - connection.sent
        let wrote = connection.response[connection.sent...].withUnsafeBytes {
            send(connection.fd, $0.baseAddress, left, Int32(MSG_NOSIGNAL))
        }
        if wrote < 0 { return errno == EAGAIN || errno == EINTR }
        connection.sent += wrote
        return connection.sent < connection.response.count
    }

    /// The response to what was read so far, or nil while the request head is incomplete.
    func respond(to request: [UInt8]) -> [UInt8]? {
        let end = Self.headEnd(request)
        guard let end else {
            return request.count > Self.maxRequest ? Self.response(431, "Request Header Fields Too Large") : nil
        }
        guard end <= Self.maxRequest else { return Self.response(431, "Request Header Fields Too Large") }
        let lineEnd = request.firstIndex(where: { $0 == 13 || $0 == 10 }) ?? end
        let line = String(decoding: request[0..<lineEnd], as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), !parts[0].isEmpty else {
            return Self.response(400, "Bad Request")
        }
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else { return Self.response(404, "Not Found") }
        guard parts[0] == "GET" else { return Self.response(405, "Method Not Allowed", extra: "Allow: GET\r\n") }
        return Self.response(200, "OK", body: render(), type: PrometheusText.contentType)
    }

    /// Where the request head ends (after its blank line, CRLF or a bare LF as RFC 9112 allows
    /// a server to accept), if it does.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 1..<bytes.count where bytes[index] == 10 {
            if bytes[index - 1] == 10 || (index >= 2 && bytes[index - 1] == 13 && bytes[index - 2] == 10) {
                return index + 1
            }
        }
        return nil
    }

    static func response(_ status: Int, _ reason: String, body: String? = nil, type: String = "text/plain; charset=utf-8",
                         extra: String = "") -> [UInt8] {
        let text = body ?? "\(status) \(reason)\n"
        let body = Array(text.utf8)
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\n"
            + extra + "Connection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}
