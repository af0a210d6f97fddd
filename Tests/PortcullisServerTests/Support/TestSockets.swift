import Foundation
import PortcullisTestSupport

/// Blocking client sockets for driving forwards from a test.
enum TestSocket {
    static func connectUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw TestFailure("connect \(path): \(String(cString: strerror(code)))")
        }
        return fd
    }

    static func connectTCP(port: Int, host: String = "127.0.0.1") throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw TestFailure("connect 127.0.0.1:\(port): \(String(cString: strerror(code)))")
        }
        return fd
    }

    /// A listening socket on 127.0.0.1 with a port the kernel chose.
    static func listenTCP() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard rc else { throw TestFailure("listen on 127.0.0.1 failed") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func listenUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 && listen(fd, 64) == 0
            }
        }
        guard rc else { throw TestFailure("listen on \(path) failed") }
        return fd
    }

    /// Connects to 127.0.0.1:`port` once something listens there (such as `ssh -L`).
    static func connectWhenListening(port: Int) throws -> Int32 {
        var fd: Int32 = -1
        try waitUntil("a listener on 127.0.0.1:\(port)") {
            fd = (try? connectTCP(port: port)) ?? -1
            return fd >= 0
        }
        return fd
    }

    /// A TCP port that was free a moment ago, for programs that must be told a port number.
    static func freePort() throws -> Int {
        let (fd, port) = try listenTCP()
        close(fd)
        return port
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw TestFailure("write failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Reads until the peer closes its side, failing if nothing arrives for `seconds`.
    static func readToEnd(_ fd: Int32, seconds: Int32 = 20) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, seconds * 1000) > 0 else { throw TestFailure("read timed out after \(result.count) bytes") }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return result }
            guard count > 0 else { throw TestFailure("read failed: \(String(cString: strerror(errno)))") }
            result += chunk[0..<count]
        }
    }

    /// Sends `bytes`, closes the write side, and returns everything the peer sent back.
    static func exchange(_ fd: Int32, _ bytes: [UInt8]) throws -> [UInt8] {
        final class Outcome: @unchecked Sendable {
            var received: Result<[UInt8], Error> = .success([])
            let done = DispatchSemaphore(value: 0)
        }
        let outcome = Outcome()
        Thread {
            outcome.received = Result { try readToEnd(fd) }
            outcome.done.signal()
        }.start()
        try writeAll(fd, bytes)
        shutdown(fd, Int32(SHUT_WR))
        outcome.done.wait()
        return try outcome.received.get()
    }

    /// A Unix datagram socket bound at `path` (a stand-in for /dev/log), non-blocking.
    static func bindDatagram(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    /// The next datagram waiting on `fd`, or nil when none is.
    static func receiveDatagram(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        return address
    }
}

/// A TCP service on 127.0.0.1 (a port the kernel chose) that runs `serve` on a thread of its own
/// for each connection; `serve` closes the connection.
final class TCPService: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init(_ serve: @escaping @Sendable (Int32) -> Void) throws {
        (fd, port) = try TestSocket.listenTCP()
        Thread { [fd] in
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { return }
                Thread { serve(connection) }.start()
            }
        }.start()
    }

    deinit { stop() }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// Echoes every connection back until the peer closes its side, then closes its own: a stand-in
/// for the service a user shares (VNC, a web app).
final class EchoServer: @unchecked Sendable {
    let fd: Int32
    private let stopped = NSLock()
    private var isStopped = false

    /// An echo server on 127.0.0.1 with a port the kernel chose.
    static func tcp() throws -> (EchoServer, port: Int) {
        let (fd, port) = try TestSocket.listenTCP()
        return (EchoServer(fd: fd), port)
    }

    /// An echo server on a Unix socket at `path`.
    static func unix(_ path: String) throws -> EchoServer {
        EchoServer(fd: try TestSocket.listenUnix(path))
    }

    private init(fd: Int32) {
        self.fd = fd
        Thread { [self] in acceptLoop() }.start()
    }

    deinit {
        stop()
    }

    func stop() {
        stopped.lock()
        defer { stopped.unlock() }
        if !isStopped {
            isStopped = true
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    private func acceptLoop() {
        while true {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { return }
            Thread { Self.echo(connection) }.start()
        }
    }

    private static func echo(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            guard (try? TestSocket.writeAll(fd, Array(chunk[0..<count]))) != nil else { break }
        }
        shutdown(fd, Int32(SHUT_WR))
        close(fd)
    }
}
