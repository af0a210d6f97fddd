import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// The stock OpenSSH client against the server on the patched libssh: Unix-socket forwards in
/// both directions and their cancellation, asserted by the bytes that arrive.
@Suite struct StreamLocalForwardingTests {
    @Test func remoteForwardOfUnixSocketReachesTCPService() throws {
        let server = try TestServer()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("x.sock")

        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes",
                                  "-R", "\(socketPath):127.0.0.1:\(echoPort)"])
        try waitUntil("the forwarded socket to appear") { FileManager.default.fileExists(atPath: socketPath) }

        var info = stat()
        #expect(lstat(socketPath, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)

        // Both directions, larger than any window, closed from the writer's side first.
        let payload = randomBytes(3 * 1024 * 1024 + 17)
        let fd = try TestSocket.connectUnix(socketPath)
        defer { close(fd) }
        let echoed = try TestSocket.exchange(fd, payload)
        #expect(echoed.count == payload.count)
        #expect(firstDifference(echoed, payload) == nil)
        #expect(ssh.isRunning, "ssh exited: \(ssh.stderr)")

        // Several connections at once over the same forward.
        let results = try (0..<4).map { index -> ([UInt8], Int32) in
            (randomBytes(100_000 + index), try TestSocket.connectUnix(socketPath))
        }.map { payload, fd -> Bool in
            defer { close(fd) }
            return firstDifference(try TestSocket.exchange(fd, payload), payload) == nil
        }
        #expect(results == [true, true, true, true])
    }

    @Test func localForwardReachesUnixSocket() throws {
        let server = try TestServer()
        let socketPath = server.directory.file("y.sock")
        let echo = try EchoServer.unix(socketPath)
        defer { echo.stop() }
        let localPort = try TestSocket.freePort()

        let ssh = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):\(socketPath)"])
        let fd = try TestSocket.connectWhenListening(port: localPort)
        defer { close(fd) }

        let payload = randomBytes(2 * 1024 * 1024 + 5)
        let echoed = try TestSocket.exchange(fd, payload)
        #expect(echoed.count == payload.count)
        #expect(firstDifference(echoed, payload) == nil)
        #expect(ssh.isRunning, "ssh exited: \(ssh.stderr)")
        try server.events.wait(for: "the channel to close with its byte counts") { event in
            if case .channelClosed(_, _, .streamLocalOpen(socketPath), let toClient, let fromClient, _, _) = event {
                return toClient == UInt64(payload.count) && fromClient == UInt64(payload.count)
            }
            return false
        }
    }

    @Test func cancelOverControlMasterRemovesTheSocket() throws {
        let server = try TestServer()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("c.sock")
        let controlPath = server.directory.file("ctl")
        let forward = "\(socketPath):127.0.0.1:\(echoPort)"

        let master = try server.ssh(["-N", "-o", "ControlMaster=yes", "-o", "ControlPath=\(controlPath)",
                                     "-o", "ExitOnForwardFailure=yes", "-R", forward])
        try waitUntil("the forwarded socket to appear") { FileManager.default.fileExists(atPath: socketPath) }
        let fd = try TestSocket.connectUnix(socketPath)
        #expect(try TestSocket.exchange(fd, Array("before cancel".utf8)) == Array("before cancel".utf8))
        close(fd)

        let cancel = try run("/usr/bin/ssh", server.sshArguments(["-o", "ControlPath=\(controlPath)",
                                                                  "-O", "cancel", "-R", forward]))
        #expect(cancel.status == 0, "ssh -O cancel: \(cancel.stderr)")
        try server.events.wait(for: "the cancel request") { event in
            if case .forwardCancelled(_, .streamLocalListen(socketPath)) = event { return true }
            return false
        }
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        #expect(throws: TestFailure.self) { try TestSocket.connectUnix(socketPath) }
        #expect(master.isRunning, "the master exited: \(master.stderr)")
    }

    @Test func refusedListenLeavesNoSocketAndTheClientSaysSo() throws {
        let server = try TestServer(decide: { request in
            if case .streamLocalListen = request { return .deny(reason: "no rule grants it") }
            return .allow(rule: .at("test.yaml", 1, "test"))
        })
        let socketPath = server.directory.file("denied.sock")

        let result = try run("/usr/bin/ssh", server.sshArguments(["-N", "-o", "ExitOnForwardFailure=yes",
                                                                  "-R", "\(socketPath):127.0.0.1:9"]))
        #expect(result.status == 255)
        #expect(result.stderr.contains("remote port forwarding failed for listen path \(socketPath)"))
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        try server.events.wait(for: "the refusal") { event in
            if case .forwardRequested(_, .streamLocalListen(socketPath), .deny(let reason), _, _) = event {
                return reason == "no rule grants it"
            }
            return false
        }
    }
}
