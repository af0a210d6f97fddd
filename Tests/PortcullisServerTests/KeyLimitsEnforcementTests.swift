import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// The per-key limits as the stock client meets them, with the limits set in Swift (the config
/// fields are another part's), and an administrator's disconnect through the live registry.
@Suite(.serialized) struct KeyLimitsEnforcementTests {
    private let reasonPrefix = "key test-key already has"

    @Test func aLoginPastMaxSessionsIsDisconnectedWithTheReasonAndTheNextOneAfterAnEndIsLetIn() throws {
        let server = try TestServer(limits: KeyLimits(maxSessions: 1))
        let first = try server.ssh(["-N"])
        defer { first.stop() }
        try waitUntil("the first session to count") { server.server.live.usage.counts(for: "test-key").sessions == 1 }
        let second = try run("/usr/bin/ssh", server.sshArguments(["-N"]))
        let reason = "\(reasonPrefix) 1 session (max_sessions 1)"
        #expect(second.status == 255)
        #expect(second.stderr.contains("Received disconnect from 127.0.0.1 port \(server.port)"), "\(second.stderr)")
        #expect(second.stderr.contains(reason), "\(second.stderr)")
        try server.events.wait(for: "the refused session's record") { event in
            if case .sessionClosed(_, reason, _, _, _, _) = event { return true }
            return false
        }
        #expect(first.isRunning)
        first.stop()
        try waitUntil("the first session to be given back") { server.server.live.usage.counts(for: "test-key").sessions == 0 }
        let third = try server.ssh(["-N"])
        defer { third.stop() }
        try waitUntil("the third session to count") { server.server.live.usage.counts(for: "test-key").sessions == 1 }
        #expect(third.isRunning)
    }

    @Test func anOpenPastMaxChannelsFailsWithTheReasonTheClientPrints() throws {
        // A listener nobody accepts on: connections wait in its backlog, each channel stays open.
        let (target, targetPort) = try TestSocket.listenTCP()
        var targetOpen = true
        defer { if targetOpen { close(target) } }
        let server = try TestServer(limits: KeyLimits(maxChannels: 1))
        let local = try TestSocket.freePort()
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-L", "127.0.0.1:\(local):127.0.0.1:\(targetPort)"])
        defer { ssh.stop() }
        let held = try TestSocket.connectWhenListening(port: local)
        defer { close(held) }
        try waitUntil("the held channel to count") { server.server.live.usage.counts(for: "test-key").channels == 1 }
        let report = try ssh.refusedOpenReport(localPort: local)
        let reason = "\(reasonPrefix) 1 channel (max_channels 1)"
        #expect(report.contains("open failed: administratively prohibited: \(reason)"), "\(report)")
        try server.events.wait(for: "the refusal's record") { event in
            if case .forwardRequested(_, .tcpOpen, .deny(reason), _, _) = event { return true }
            return false
        }
        #expect(server.server.live.snapshot().first?.channels.count == 1)
        // The target goes away (its backlog is reset): the channel closes and is given back.
        close(target)
        targetOpen = false
        try waitUntil("the channel to be given back") { server.server.live.usage.counts(for: "test-key").channels == 0 }
    }

    @Test func aListenPastMaxListensIsRefusedWithItsRecordAndGivenBackAtTheEnd() throws {
        let server = try TestServer(limits: KeyLimits(maxListens: 1))
        let first = server.directory.file("a.sock")
        let second = server.directory.file("b.sock")
        let ssh = try server.ssh(["-N", "-R", "\(first):127.0.0.1:9", "-R", "\(second):127.0.0.1:9"])
        let reason = "\(reasonPrefix) 1 listen (max_listens 1)"
        try server.events.wait(for: "the second listen's refusal") { event in
            if case .forwardRequested(_, .streamLocalListen(second), .deny(reason), _, _) = event { return true }
            return false
        }
        try waitUntil("ssh to say so") { ssh.stderr.contains("remote port forwarding failed for listen path \(second)") }
        #expect(FileManager.default.fileExists(atPath: first) && !FileManager.default.fileExists(atPath: second))
        #expect(server.server.live.snapshot().first?.listens == [first])
        ssh.stop()
        try waitUntil("the listen to be given back") { server.server.live.usage.counts(for: "test-key") == KeyUsage.Counts() }
    }

    @Test func anAdministratorsDisconnectEndsTheClientAndItsSocketFile() throws {
        let server = try TestServer()
        let path = server.directory.file("web.sock")
        let ssh = try server.ssh(["-N", "-R", "\(path):127.0.0.1:9"])
        defer { ssh.stop() }
        try waitUntil("the socket file") { FileManager.default.fileExists(atPath: path) }
        let session = try #require(server.server.live.snapshot().first)
        #expect(session.key == "test-key" && session.user == "tester" && session.listens == [path])
        let ended = server.server.live.disconnect(id: session.id, reason: "disconnected by administrator")
        #expect(ended?.id == session.id)
        try waitUntil("ssh to exit") { !ssh.isRunning }
        #expect(ssh.stderr.contains("disconnected by administrator"), "\(ssh.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
        try server.events.wait(for: "the session's record") { event in
            if case .sessionClosed(session.id, "disconnected by administrator", _, _, _, _) = event { return true }
            return false
        }
        #expect(server.server.live.snapshot().isEmpty)
    }
}
