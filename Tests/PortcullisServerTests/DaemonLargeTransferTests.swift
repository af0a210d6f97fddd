import Foundation
import Testing

/// 256 MiB each way through each of the four forward kinds of the real daemon, checked byte for byte.
@Suite(.serialized) struct DaemonLargeTransferTests {
    static let size = 256 * 1024 * 1024

    private func daemon() throws -> TestDaemon {
        try TestDaemon(keys: ["alex": """
            permit_listen: ["localhost:*"]
            permit_open: ["127.0.0.1:*"]
            permit_streamlocal_listen: ["%ROOT%/*.sock"]
            permit_streamlocal_open: ["%ROOT%/*.sock"]
            """])
    }

    @Test func remoteUnixSocketForward() throws {
        let daemon = try daemon()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let path = "\(daemon.socketRoot)/big.sock"
        let ssh = try daemon.ssh("alex", ["-N", "-R", "\(path):127.0.0.1:\(echoPort)"])
        defer { ssh.stop() }
        try waitUntil("the socket") { FileManager.default.fileExists(atPath: path) }
        let fd = try TestSocket.connectUnix(path)
        defer { close(fd) }
        #expect(try StreamCheck.echo(fd, total: Self.size) == Self.size)
    }

    @Test func remoteTCPForward() throws {
        let daemon = try daemon()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let port = try TestSocket.freePort()
        let ssh = try daemon.ssh("alex", ["-N", "-R", "\(port):127.0.0.1:\(echoPort)"])
        defer { ssh.stop() }
        let fd = try TestSocket.connectWhenListening(port: port)
        defer { close(fd) }
        #expect(try StreamCheck.echo(fd, total: Self.size) == Self.size)
    }

    @Test func localUnixSocketForward() throws {
        let daemon = try daemon()
        let path = "\(daemon.socketRoot)/echo.sock"
        let echo = try EchoServer.unix(path)
        defer { echo.stop() }
        let port = try TestSocket.freePort()
        let ssh = try daemon.ssh("alex", ["-N", "-L", "127.0.0.1:\(port):\(path)"])
        defer { ssh.stop() }
        let fd = try TestSocket.connectWhenListening(port: port)
        defer { close(fd) }
        #expect(try StreamCheck.echo(fd, total: Self.size) == Self.size)
    }

    @Test func localTCPForward() throws {
        let daemon = try daemon()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let port = try TestSocket.freePort()
        let ssh = try daemon.ssh("alex", ["-N", "-L", "127.0.0.1:\(port):127.0.0.1:\(echoPort)"])
        defer { ssh.stop() }
        let fd = try TestSocket.connectWhenListening(port: port)
        defer { close(fd) }
        #expect(try StreamCheck.echo(fd, total: Self.size) == Self.size)
    }

    /// Re-keying every MiB: libssh takes no channel data while a key exchange runs, and none of it
    /// may be lost, either way, remote or local.
    @Test(arguments: ["-R"])
    func rekeyingMidTransferLosesNothing(direction: String) throws {
        let daemon = try daemon()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let port = try TestSocket.freePort()
        let forward = direction == "-R" ? "\(port):127.0.0.1:\(echoPort)" : "127.0.0.1:\(port):127.0.0.1:\(echoPort)"
        let ssh = try daemon.ssh("alex", ["-o", "RekeyLimit=1M", "-N", direction, forward])
        defer { ssh.stop() }
        let fd = try TestSocket.connectWhenListening(port: port)
        defer { close(fd) }
        let total = 48 * 1024 * 1024
        #expect(try StreamCheck.echo(fd, total: total) == total)
    }
}
