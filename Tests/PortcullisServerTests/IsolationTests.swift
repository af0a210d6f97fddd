import Foundation
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// Sessions share event-loop threads; one client that stops reading must not hold up the others.
@Suite struct IsolationTests {
    /// A TCP service that sends endlessly to whoever connects.
    private func firehose() throws -> TCPService {
        try TCPService { connection in
            let chunk = [UInt8](repeating: 0x2a, count: 65536)
            while chunk.withUnsafeBytes({ write(connection, $0.baseAddress, $0.count) }) > 0 {}
            close(connection)
        }
    }

    @Test func stoppedClientDoesNotStallOtherSessionsOnTheSameThread() throws {
        let server = try TestServer(workers: 1)
        let firehose = try firehose()
        defer { firehose.stop() }

        // A pulls from the firehose through 16 channels, then stops reading altogether.
        let localPort = try TestSocket.freePort()
        let stalled = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(firehose.port)"])
        let connections = try (0..<16).map { _ in try TestSocket.connectWhenListening(port: localPort) }
        defer { connections.forEach { close($0) } }
        try waitUntil("data to flow") {
            server.events.all.filter { if case .channelOpened = $0 { return true }; return false }.count == 16
        }
        kill(stalled.pid, SIGSTOP)
        defer { kill(stalled.pid, SIGCONT) }
        var last = 0
        do {
            try waitUntil("the server's send queue towards A to fill") {
                last = queued(onPort: server.port)
                return last > 1024 * 1024
            }
        } catch {
            throw TestFailure("\(error) (\(last) bytes queued)")
        }

        // B, on the same thread, still logs in and forwards at once.
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("b.sock")
        let other = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes",
                                    "-R", "\(socketPath):127.0.0.1:\(echoPort)"])
        try waitUntil("B's forward", seconds: 5) { FileManager.default.fileExists(atPath: socketPath) }
        let fd = try TestSocket.connectUnix(socketPath)
        defer { close(fd) }
        #expect(try TestSocket.exchange(fd, Array("not stalled".utf8)) == Array("not stalled".utf8))
        #expect(other.isRunning)
    }

    /// The bytes the kernel holds on the TCP connections to or from `port` (from /proc/net/tcp):
    /// sent but unread by a peer that stopped reading, on either end.
    private func queued(onPort port: Int) -> Int {
        // /proc files report no size, so read until the end rather than trusting one.
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return 0 }
        defer { try? handle.close() }
        let table = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let suffix = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().reduce(0) { total, line in
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[3] == "01",
                  fields[1].hasSuffix(suffix) || fields[2].hasSuffix(suffix) else { return total }
            let queues = fields[4].split(separator: ":").map { Int($0, radix: 16) ?? 0 }
            return total + queues.reduce(0, +)
        }
    }
}
