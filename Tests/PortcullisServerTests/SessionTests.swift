import Foundation
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// What a client sees of the session itself: no shell, and who may log in.
@Suite struct SessionTests {
    @Test func plainSSHIsToldToUseDashNAndExits() throws {
        let server = try TestServer()
        let started = Date()
        let result = try run("/usr/bin/ssh", server.sshArguments([]))
        #expect(result.status == 1)
        #expect(result.stderr.contains("This server only forwards ports and sockets: use ssh -N."))
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test func commandIsRefusedTheSameWay() throws {
        let server = try TestServer()
        let result = try run("/usr/bin/ssh", server.sshArguments(["-T"]) + ["uname -a"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("use ssh -N"))
        #expect(result.stdout.isEmpty)
    }

    @Test func unknownKeyIsDenied() throws {
        let server = try TestServer()
        let stranger = try KeyPair.generate(at: server.directory.file("stranger"))
        var arguments = server.sshArguments(["-N"])
        arguments[arguments.firstIndex(of: server.clientKey.privatePath)!] = stranger.privatePath
        let result = try run("/usr/bin/ssh", arguments)
        #expect(result.status == 255)
        #expect(result.stderr.contains("Permission denied (publickey)"))
    }

    @Test func silentClientIsDroppedAfterTheLoginGraceTime() throws {
        let server = try TestServer(loginGraceTime: 1)
        let fd = try TestSocket.connectTCP(port: server.port)
        defer { close(fd) }
        let started = Date()
        // The server's banner, then nothing until it gives up on us.
        _ = try TestSocket.readToEnd(fd, seconds: 10)
        #expect(Date().timeIntervalSince(started) < 5)
        try server.events.wait(for: "the grace time to run out") { event in
            if case .sessionClosed(_, "login grace time exceeded", _, _, _, _) = event { return true }
            return false
        }
    }

    @Test func tooManyFailedKeysEndTheConnection() throws {
        let server = try TestServer()
        let strangers = try (0..<8).map { try KeyPair.generate(at: server.directory.file("stranger\($0)")) }
        var arguments = server.sshArguments(["-N"])
        let keyIndex = arguments.firstIndex(of: server.clientKey.privatePath)!
        arguments.remove(at: keyIndex)
        arguments.remove(at: keyIndex - 1)
        let result = try run("/usr/bin/ssh", strangers.flatMap { ["-i", $0.privatePath] } + arguments)
        #expect(result.status == 255)
        // As from sshd: the client is told why.
        #expect(result.stderr.contains("Too many authentication failures"), "\(result.stderr)")
        try server.events.wait(for: "the limit") { event in
            if case .sessionClosed(_, "too many authentication failures", _, _, _, _) = event { return true }
            return false
        }
        let refusals = server.events.all.filter { if case .authRefused = $0 { return true }; return false }
        #expect(refusals.count == 6)
    }
}
