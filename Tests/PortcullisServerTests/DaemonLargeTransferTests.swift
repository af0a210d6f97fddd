import Foundation
import Testing
import PortcullisTestSupport

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

    /// Re-keying every MiB while bytes flow both ways at once: libssh takes no channel data while a
    /// key exchange runs and calls the pump back from inside its own calls; none of it may be lost,
    /// duplicated or stalled, remote or local, TCP or Unix socket.
    @Test(arguments: ["-R", "-L", "-R unix", "-L unix"])
    func rekeyingMidTransferLosesNothing(forward kind: String) throws {
        let daemon = try daemon()
        let unix = kind.hasSuffix(" unix")
        let direction = String(kind.prefix(2))
        let path = "\(daemon.socketRoot)/rekey.sock"
        let echo: EchoServer
        let target: String
        if unix && direction == "-L" {
            echo = try EchoServer.unix(path)
            target = path
        } else {
            let (server, echoPort) = try EchoServer.tcp()
            echo = server
            target = "127.0.0.1:\(echoPort)"
        }
        defer { echo.stop() }
        let port = try TestSocket.freePort()
        let forward = switch (direction, unix) {
        case ("-R", false): "\(port):\(target)"
        case ("-R", true): "\(path):\(target)"
        default: "127.0.0.1:\(port):\(target)"
        }
        let ssh = try daemon.ssh("alex", ["-o", "RekeyLimit=1M", "-N", direction, forward])
        defer { ssh.stop() }
        let fd: Int32
        if unix && direction == "-R" {
            try waitUntil("the socket") { FileManager.default.fileExists(atPath: path) }
            fd = try TestSocket.connectUnix(path)
        } else {
            fd = try TestSocket.connectWhenListening(port: port)
        }
        defer { close(fd) }
        let total = 48 * 1024 * 1024
        #expect(try StreamCheck.echo(fd, total: total) == total)
    }
}
