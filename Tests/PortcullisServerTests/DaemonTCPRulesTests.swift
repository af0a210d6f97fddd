import Foundation
import Testing
import PortcullisTestSupport

/// OpenSSH's permitlisten/permitopen behaviours (../shared/design/protocol.md), row by row, through
/// the real daemon with the stock client.
@Suite struct DaemonTCPRulesTests {
    /// Tries `ssh -N -R spec` with ExitOnForwardFailure; true if the forward was set up.
    private func remoteForwardWorks(_ daemon: TestDaemon, _ key: String, _ spec: String) throws -> Bool {
        func listens() -> Int { daemon.process.stderr.components(separatedBy: "listening for tcp-listen").count }
        let before = listens()
        let ssh = try daemon.ssh(key, ["-N", "-o", "ExitOnForwardFailure=yes", "-R", spec])
        defer { ssh.stop() }
        try waitUntil("ssh -R \(spec) to forward or give up") { listens() > before || !ssh.isRunning }
        return listens() > before
    }

    @Test func localhostRulePermitsTheDefaultBindAddressOnly() throws {
        let port = try TestSocket.freePort()
        let daemon = try TestDaemon(keys: ["alex": "permit_listen: [\"localhost:\(port)\"]"])
        #expect(try remoteForwardWorks(daemon, "alex", "\(port):127.0.0.1:9"))
        #expect(try !remoteForwardWorks(daemon, "alex", "127.0.0.1:\(port):127.0.0.1:9"))
    }

    @Test func globHostRulePermitsTheAddressNotLocalhost() throws {
        let port = try TestSocket.freePort()
        let daemon = try TestDaemon(keys: ["alex": "permit_listen: [\"127.0.0.*:\(port)\"]"])
        #expect(try remoteForwardWorks(daemon, "alex", "127.0.0.1:\(port):127.0.0.1:9"))
        #expect(try !remoteForwardWorks(daemon, "alex", "\(port):127.0.0.1:9"))
    }

    @Test func barePortRulePermitsAnyHost() throws {
        let port = try TestSocket.freePort()
        let daemon = try TestDaemon(keys: ["alex": "permit_listen: [\"\(port)\"]"])
        #expect(try remoteForwardWorks(daemon, "alex", "\(port):127.0.0.1:9"))
        #expect(try remoteForwardWorks(daemon, "alex", "127.0.0.1:\(port):127.0.0.1:9"))
    }

    @Test func dynamicPortNeedsAStarOrRangeAndIsReported() throws {
        let port = try TestSocket.freePort()
        let fixed = try TestDaemon(keys: ["alex": "permit_listen: [\"localhost:\(port)\"]"])
        let refused = try fixed.runSSH("alex", ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"])
        #expect(refused.status == 255)

        let star = try TestDaemon(keys: ["alex": "permit_listen: [\"localhost:*\"]"])
        let any = try star.ssh("alex", ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"])
        defer { any.stop() }
        try waitUntil("the allocated port") { any.stderr.contains("Allocated port ") }

        let ranged = try TestDaemon(keys: ["alex": "permit_listen: [\"localhost:20000-20099\"]"])
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let ssh = try ranged.ssh("alex", ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:\(echoPort)"])
        var allocated = 0
        try waitUntil("the allocated port") {
            let line = ssh.stderr.split(separator: "\n").first { $0.hasPrefix("Allocated port ") }
            allocated = line.flatMap { Int($0.split(separator: " ")[2]) } ?? 0
            return allocated > 0
        }
        #expect((20000...20099).contains(allocated))
        let fd = try TestSocket.connectTCP(port: allocated)
        defer { close(fd) }
        #expect(try TestSocket.exchange(fd, Array("ranged".utf8)) == Array("ranged".utf8))
    }

    @Test func privilegedPortIsRefused() throws {
        let daemon = try TestDaemon(keys: ["alex": "permit_listen: [\"localhost:*\"]"])
        let result = try daemon.runSSH("alex", ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "80:127.0.0.1:9"])
        #expect(result.status == 255)
        #expect(daemon.process.stderr.contains("privileged"))
    }

    /// Opens `-L` to `target` and returns the bytes echoed, or nil with the client's complaint.
    private func localForward(_ daemon: TestDaemon, _ key: String, to target: String) throws -> String? {
        let localPort = try TestSocket.freePort()
        let ssh = try daemon.ssh(key, ["-N", "-L", "127.0.0.1:\(localPort):\(target)"])
        defer { ssh.stop() }
        let fd = try TestSocket.connectWhenListening(port: localPort)
        defer { close(fd) }
        // A refused channel closes the connection, possibly with a reset since "hello" went unread.
        guard let echoed = try? TestSocket.exchange(fd, Array("hello".utf8)), !echoed.isEmpty else {
            try waitUntil("ssh to report the refusal") { ssh.stderr.contains("open failed") }
            return nil
        }
        return String(decoding: echoed, as: UTF8.self)
    }

    @Test func permitOpenComparesTheHostStringExactly() throws {
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"localhost:\(echoPort)\"]",
                                           "casey": "permit_open: [\"127.0.0.1:\(echoPort)\"]"])
        #expect(try localForward(daemon, "blake", to: "localhost:\(echoPort)") == "hello")
        #expect(try localForward(daemon, "blake", to: "127.0.0.1:\(echoPort)") == nil)
        #expect(try localForward(daemon, "casey", to: "127.0.0.1:\(echoPort)") == "hello")
        #expect(try localForward(daemon, "casey", to: "localhost:\(echoPort)") == nil)
    }

    @Test func cidrRuleGrantsTheResolvedAddressInside() throws {
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"127.0.0.0/8:\(echoPort)\"]"])
        // localhost resolves to 127.0.0.1 (and ::1, outside the network, never tried).
        #expect(try localForward(daemon, "blake", to: "localhost:\(echoPort)") == "hello")
        #expect(try localForward(daemon, "blake", to: "127.0.0.1:\(echoPort + 1 == 65536 ? 1 : echoPort + 1)") == nil)
    }

    @Test func jumpHostReachesOnlyAPermittedTarget() throws {
        // What `ssh -J proxy target` does (-W), with this test's keys; the target is the daemon's own
        // SSH port, so the jumped session logs in a second time.
        for (rule, works) in [("127.0.0.1:*", true), ("127.0.0.1:1", false)] {
            let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"\(rule)\"]"])
            let jump = "ProxyCommand=" + (["/usr/bin/ssh"] + daemon.sshArguments("blake", ["-W", "%h:%p"]))
                .joined(separator: " ")
            let ssh = try daemon.ssh("blake", ["-o", jump, "-N"])
            defer { ssh.stop() }
            if works {
                try waitUntil("the jumped session") {
                    daemon.process.stderr.components(separatedBy: "accepted key").count >= 3
                }
                #expect(ssh.isRunning, "\(ssh.stderr)")
            } else {
                try waitUntil("the jump to fail") { !ssh.isRunning }
                #expect(ssh.exitStatus == 255)
                #expect(ssh.stderr.contains("stdio forwarding failed"))
            }
        }
    }
}
