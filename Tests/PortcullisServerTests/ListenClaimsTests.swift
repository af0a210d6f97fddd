import Foundation
import PortcullisPolicy
import Synchronization
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// The hook cluster mode claims remote listens through (`ListenClaims`), with a scripted registry:
/// a claim is asked before the bind (port 0: after, with the port), a refusal refuses the listen
/// with its reason, a claim is released when its listen ends, and a lost claim takes no connection.
@Suite struct ListenClaimsTests {
    /// Claims granted or refused as told, remembering what was asked and released.
    final class ScriptedClaims: ListenClaims, @unchecked Sendable {
        let refusal = Mutex<String?>(nil)
        let asked = Mutex<[(ForwardRequest, Int?)]>([])
        let held = Mutex<[Held]>([])

        final class Held: ListenClaim, @unchecked Sendable {
            let lost = Mutex<String?>(nil)
            let released = Atomic<Int>(0)
            var lostReason: String? { lost.withLock { $0 } }
            func release() { released.add(1, ordering: .relaxed) }
        }

        func claim(_ request: ForwardRequest, port: Int?, session: UInt64, key: String) -> ListenClaimDecision {
            asked.withLock { $0.append((request, port)) }
            if let reason = refusal.withLock({ $0 }) { return .refused(reason) }
            let claim = Held()
            held.withLock { $0.append(claim) }
            return .granted(claim)
        }
    }

    @Test func aRefusedClaimRefusesTheListenWithItsReasonAndBindsNothing() throws {
        let claims = ScriptedClaims()
        claims.refusal.withLock { $0 = #"x.sock is in use by another session on proxy "a""# }
        let server = try TestServer(claims: claims)
        let socketPath = server.directory.file("x.sock")
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(socketPath):127.0.0.1:9"])
        try waitUntil("ssh to give up") { !ssh.isRunning }
        #expect(ssh.exitStatus != 0)
        #expect(ssh.stderr.contains("remote port forwarding failed"))
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        try server.events.wait(for: "the forward-failed record naming the holder") { event in
            if case .forwardFailed(_, .streamLocalListen(socketPath), let reason, _) = event {
                return reason == #"x.sock is in use by another session on proxy "a""#
            }
            return false
        }
        #expect(claims.asked.withLock { $0.map(\.1) } == [nil])
    }

    @Test func aClaimIsHeldWhileTheListenLivesAndReleasedWhenItEnds() throws {
        let claims = ScriptedClaims()
        let server = try TestServer(claims: claims)
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("held.sock")
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(socketPath):127.0.0.1:\(echoPort)"])
        try waitUntil("the forwarded socket") { FileManager.default.fileExists(atPath: socketPath) }
        let fd = try TestSocket.connectUnix(socketPath)
        #expect(try TestSocket.exchange(fd, Array("ping".utf8)) == Array("ping".utf8))
        close(fd)
        let held = try #require(claims.held.withLock { $0.first })
        #expect(held.released.load(ordering: .relaxed) == 0)
        ssh.stop()
        try waitUntil("the claim to be released") { held.released.load(ordering: .relaxed) == 1 }
    }

    @Test func aPortZeroListenIsClaimedWithThePortBound() throws {
        let claims = ScriptedClaims()
        let server = try TestServer(claims: claims)
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:9"])
        defer { ssh.stop() }
        try waitUntil("the claim") { !claims.asked.withLock { $0.isEmpty } }
        let (request, port) = try #require(claims.asked.withLock { $0.first })
        #expect(request == .tcpListen(host: "127.0.0.1", port: 0))
        let bound = try #require(port)
        #expect(bound > 0)
        try server.events.wait(for: "the listen bound on that port") { event in
            if case .forwardBound(_, _, let address) = event { return address.hasSuffix(":\(bound)") }
            return false
        }
    }

    @Test func aLostClaimTakesNoConnectionAndItsSessionEndsRecordingWhy() throws {
        let claims = ScriptedClaims()
        let server = try TestServer(claims: claims)
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("lost.sock")
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(socketPath):127.0.0.1:\(echoPort)"])
        try waitUntil("the forwarded socket") { FileManager.default.fileExists(atPath: socketPath) }
        let held = try #require(claims.held.withLock { $0.first })
        held.lost.withLock { $0 = "lease lost" }
        // The connection waits in the backlog: no channel is opened for it.
        let fd = try TestSocket.connectUnix(socketPath)
        defer { close(fd) }
        usleep(300_000)
        #expect(!server.events.all.contains { if case .channelOpened = $0 { return true }; return false })
        // Fencing ends the session that held it, as the registry's onFence does.
        let session = try #require(server.server.live.snapshot().first?.id)
        _ = server.server.live.disconnect(id: session, reason: "lease lost")
        try server.events.wait(for: "the session to end for lease lost") { event in
            if case .sessionClosed(_, "lease lost", _, _, _, _) = event { return true }
            return false
        }
        let events = server.events.all
        let failed = events.firstIndex { if case .forwardFailed(_, .streamLocalListen(socketPath), "lease lost", _) = $0 { return true }; return false }
        let closed = events.firstIndex { if case .sessionClosed = $0 { return true }; return false }
        #expect(failed != nil && failed! < closed!)
        try waitUntil("ssh to be disconnected") { !ssh.isRunning }
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        #expect(held.released.load(ordering: .relaxed) == 1)
    }

    /// Claims that wait on the network, as the cluster registry's do: each waits until the test
    /// opens the gate, then is granted.
    final class GatedClaims: ListenClaims, @unchecked Sendable {
        private let gate = DispatchSemaphore(value: 0)
        let asked = Mutex<[ForwardRequest]>([])
        let held = Mutex<[ScriptedClaims.Held]>([])

        func waitsOnNetwork(_ request: ForwardRequest) -> Bool { true }

        func claim(_ request: ForwardRequest, port: Int?, session: UInt64, key: String) -> ListenClaimDecision {
            asked.withLock { $0.append(request) }
            gate.wait()
            gate.signal()
            let claim = ScriptedClaims.Held()
            held.withLock { $0.append(claim) }
            return .granted(claim)
        }

        /// Lets every claim, waiting or to come, through.
        func open() { gate.signal() }
    }

    @Test func aClaimWaitingOnTheRegistryHoldsUpNoOtherSessionOnItsLoop() throws {
        let claims = GatedClaims()
        defer { claims.open() }
        // One event loop: both sessions are on it.
        let server = try TestServer(workers: 1, claims: claims)
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let socketPath = server.directory.file("gated.sock")
        let sharer = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(socketPath):127.0.0.1:\(echoPort)"])
        defer { sharer.stop() }
        try waitUntil("the sharer's claim to be asked") { !claims.asked.withLock { $0.isEmpty } }
        // Another user's forward carries data while the claim waits.
        let local = server.directory.file("local.sock")
        let other = try server.ssh(["-N", "-L", "\(local):127.0.0.1:\(echoPort)"])
        defer { other.stop() }
        try waitUntil("the other session's local socket") { FileManager.default.fileExists(atPath: local) }
        let fd = try TestSocket.connectUnix(local)
        #expect(try TestSocket.exchange(fd, Array("ping".utf8)) == Array("ping".utf8))
        close(fd)
        // The waiting listen is not bound, nor answered, until its claim is granted.
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        #expect(sharer.isRunning)
        claims.open()
        try waitUntil("the claimed socket") { FileManager.default.fileExists(atPath: socketPath) }
        let shared = try TestSocket.connectUnix(socketPath)
        #expect(try TestSocket.exchange(shared, Array("pong".utf8)) == Array("pong".utf8))
        close(shared)
        #expect(claims.held.withLock { $0.first?.released.load(ordering: .relaxed) } == 0)
    }

    @Test func aSessionEndingWhileItsClaimWaitsReleasesTheClaimGrantedAfterAndRecordsWhy() throws {
        let claims = GatedClaims()
        defer { claims.open() }
        let server = try TestServer(workers: 1, claims: claims)
        let socketPath = server.directory.file("late.sock")
        let ssh = try server.ssh(["-N", "-R", "\(socketPath):127.0.0.1:9", "-R", "127.0.0.1:0:127.0.0.1:9"])
        try waitUntil("the claim to be asked") { !claims.asked.withLock { $0.isEmpty } }
        ssh.stop()
        try server.events.wait(for: "the forward-failed record of the waiting listen") { event in
            if case .forwardFailed(_, .streamLocalListen(socketPath), let reason, _) = event {
                return reason.hasPrefix("session ended while the listen was being claimed: ")
            }
            return false
        }
        try server.events.wait(for: "the session's end") { if case .sessionClosed = $0 { return true }; return false }
        // Granted once the session has gone: released at once, never bound.
        claims.open()
        try waitUntil("the late claim to be released") {
            claims.held.withLock { $0.count == 1 && $0[0].released.load(ordering: .relaxed) == 1 }
        }
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        // The second -R waited behind the first and was never claimed.
        #expect(claims.asked.withLock { $0 } == [.streamLocalListen(path: socketPath)])
        // Its listen went back to the key.
        #expect(server.server.live.usage.counts(for: "test-key").listens == 0)
    }
}
