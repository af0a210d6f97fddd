import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// TCP forwards through the server with the stock client, and the refusals it reports.
@Suite struct TCPForwardingTests {
    @Test func remoteForwardOfDynamicPortIsAllocatedAndCarriesData() throws {
        let server = try TestServer()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }

        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes",
                                  "-R", "0:127.0.0.1:\(echoPort)"])
        var allocated = 0
        try waitUntil("ssh to print the allocated port") {
            let line = ssh.stderr.split(separator: "\n").first { $0.hasPrefix("Allocated port ") }
            allocated = line.flatMap { Int($0.split(separator: " ")[2]) } ?? 0
            return allocated > 0
        }
        let fd = try TestSocket.connectTCP(port: allocated)
        defer { close(fd) }
        let payload = randomBytes(1024 * 1024)
        #expect(firstDifference(try TestSocket.exchange(fd, payload), payload) == nil)
    }

    @Test func localForwardCarriesDataBothWays() throws {
        let server = try TestServer()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let localPort = try TestSocket.freePort()

        let ssh = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(echoPort)"])
        let fd = try TestSocket.connectWhenListening(port: localPort)
        defer { close(fd) }
        let payload = randomBytes(2 * 1024 * 1024)
        #expect(firstDifference(try TestSocket.exchange(fd, payload), payload) == nil)
        #expect(ssh.isRunning, "ssh exited: \(ssh.stderr)")
    }

    @Test func refusedOpenTellsTheClientWhy() throws {
        let server = try TestServer(decide: { request in
            if case .tcpOpen(_, 5900) = request { return .deny(reason: "no permit_open rule matches 127.0.0.1:5900") }
            return .allow(rule: .at("test.yaml", 1, "test"))
        })
        let localPort = try TestSocket.freePort()
        let ssh = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:5900"])
        #expect(try ssh.refusedOpenReport(localPort: localPort).contains(
            "open failed: administratively prohibited: no permit_open rule matches 127.0.0.1:5900"))
    }

    @Test func unreachableTargetIsReportedAsConnectFailed() throws {
        let server = try TestServer()
        let closedPort = try TestSocket.freePort()
        let localPort = try TestSocket.freePort()
        let ssh = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(closedPort)"])
        #expect(try ssh.refusedOpenReport(localPort: localPort).contains(
            "open failed: connect failed: 127.0.0.1:\(closedPort): Connection refused"))
    }
}
