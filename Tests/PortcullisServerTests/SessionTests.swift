import Foundation
import Testing
@testable import PortcullisServer

/// What a client sees of the session itself: no shell, and who may log in.
@Suite struct SessionTests {
    @Test func plainSSHIsToldToUseDashNAndExits() throws {
        let server = try TestServer()
        let started = Date()
        let result = try run("/usr/bin/ssh", server.sshArguments([]))
        #expect(result.status == 1)
        #expect(result.stderr.contains("This server only forwards ports and sockets: use ssh -N."))
        #expect(Date().timeIntervalSince(started) < 5)
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
}
