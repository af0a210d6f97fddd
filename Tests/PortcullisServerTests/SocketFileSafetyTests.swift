import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer

/// The socket files the server creates for `ssh -R /path`: where, with which mode, what it does
/// with a file already there, and that it cleans up only what it made.
@Suite struct SocketFileSafetyTests {
    /// Runs `ssh -N -R path:...` with ExitOnForwardFailure and returns the client's exit status and
    /// stderr once it gave up, or nil while it is still forwarding (then it is stopped).
    private func tryListen(_ server: TestServer, _ path: String) throws -> ProcessResult? {
        let ssh = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(path):127.0.0.1:9"])
        var outcome: ProcessResult?
        try waitUntil("ssh to forward or give up") {
            if let status = ssh.exitStatus {
                outcome = ProcessResult(status: status, stdout: "", stderr: ssh.stderr)
                return true
            }
            return server.events.all.contains { event in
                if case .forwardBound(_, .streamLocalListen(path), _) = event { return true }
                return false
            }
        }
        ssh.stop()
        return outcome
    }

    private func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    @Test func missingDirectoriesAreCreatedPrivate() throws {
        let server = try TestServer()
        let path = server.directory.file("alex/web/app.sock")
        #expect(try tryListen(server, path) == nil)
        var info = stat()
        #expect(stat(server.directory.file("alex"), &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(server.directory.file("alex/web"), &info) == 0 && info.st_mode & 0o777 == 0o700)
    }

    @Test func symlinkedDirectoryIsRefused() throws {
        let server = try TestServer()
        let elsewhere = try TemporaryDirectory()
        #expect(symlink(elsewhere.path, server.directory.file("link")) == 0)
        let result = try #require(try tryListen(server, server.directory.file("link/x.sock")))
        #expect(result.status == 255)
        #expect(!exists(elsewhere.file("x.sock")))
        try server.events.wait(for: "the failure") { event in
            if case .forwardFailed(_, _, let reason, _) = event { return reason.contains("symlink") }
            return false
        }
    }

    @Test func pathOutsideSocketRootIsRefused() throws {
        let server = try TestServer()
        let elsewhere = try TemporaryDirectory()
        let result = try #require(try tryListen(server, elsewhere.file("x.sock")))
        #expect(result.status == 255)
        #expect(!exists(elsewhere.file("x.sock")))
    }

    @Test func staleSocketIsReplaced() throws {
        let server = try TestServer()
        let path = server.directory.file("stale.sock")
        close(try TestSocket.listenUnix(path))  // the file stays, nobody accepts on it
        #expect(exists(path))
        #expect(try tryListen(server, path) == nil)
    }

    @Test func liveSocketIsRefusedAndKeepsWorking() throws {
        let server = try TestServer()
        let path = server.directory.file("live.sock")
        let echo = try EchoServer.unix(path)
        defer { echo.stop() }
        let result = try #require(try tryListen(server, path))
        #expect(result.status == 255)
        try server.events.wait(for: "the failure") { event in
            if case .forwardFailed(_, _, let reason, _) = event { return reason.contains("in use by another session") }
            return false
        }
        let fd = try TestSocket.connectUnix(path)
        defer { close(fd) }
        #expect(try TestSocket.exchange(fd, Array("still mine".utf8)) == Array("still mine".utf8))
    }

    @Test func regularFileIsRefusedAndLeftUntouched() throws {
        let server = try TestServer()
        let path = server.directory.file("notes.sock")
        try "keep me".write(toFile: path, atomically: false, encoding: .utf8)
        let result = try #require(try tryListen(server, path))
        #expect(result.status == 255)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    }

    @Test func socketIsRemovedWhenTheSessionEndsAndCanBeTakenAgain() throws {
        let server = try TestServer()
        let path = server.directory.file("again.sock")
        #expect(try tryListen(server, path) == nil)
        try waitUntil("the socket file to be removed") { !exists(path) }
        let second = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(path):127.0.0.1:9"])
        try waitUntil("the second listen") { exists(path) }
        #expect(second.isRunning, "second ssh: \(second.stderr)")
    }

    @Test func secondSessionCannotTakeALiveForward() throws {
        let server = try TestServer()
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let path = server.directory.file("taken.sock")
        let first = try server.ssh(["-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(path):127.0.0.1:\(echoPort)"])
        try waitUntil("the first listen") { exists(path) }
        let result = try run("/usr/bin/ssh", server.sshArguments(["-N", "-o", "ExitOnForwardFailure=yes",
                                                                  "-R", "\(path):127.0.0.1:9"]))
        #expect(result.status == 255)
        #expect(result.stderr.contains("remote port forwarding failed for listen path \(path)"))
        let fd = try TestSocket.connectUnix(path)
        defer { close(fd) }
        #expect(try TestSocket.exchange(fd, Array("first".utf8)) == Array("first".utf8))
        #expect(first.isRunning)
    }

    @Test func openThroughSymlinkNeedsARuleForTheRealPath() throws {
        let server = try TestServer(decide: { request in
            if case .streamLocalOpen(let path) = request, path.hasSuffix("/secret.sock") {
                return .deny(reason: "no permit_streamlocal_open rule matches \(path)")
            }
            return .allow(rule: "test")
        })
        let secret = server.directory.file("secret.sock")
        let echo = try EchoServer.unix(secret)
        defer { echo.stop() }
        let link = server.directory.file("public.sock")
        #expect(symlink(secret, link) == 0)
        let localPort = try TestSocket.freePort()
        let ssh = try server.ssh(["-N", "-L", "127.0.0.1:\(localPort):\(link)"])
        #expect(try ssh.refusedOpenReport(localPort: localPort).contains("resolves to \(secret)"))
    }

    @Test func staleSocketsUnderTheRootAreRemovedOnStart() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("crashed"), withIntermediateDirectories: true)
        close(try TestSocket.listenUnix(directory.file("crashed/old.sock")))
        let live = try EchoServer.unix(directory.file("live.sock"))
        defer { live.stop() }
        let events = EventLog()
        let hostKey = try KeyPair.generate(at: directory.file("host_key"))
        let server = SSHServer(configuration: ServerConfiguration(
                                   listen: [Endpoint(host: "127.0.0.1", port: 0)], hostKeys: [hostKey.privatePath],
                                   socketRoot: directory.path),
                               authority: TestAuthority(keys: [], decide: { _ in .deny(reason: "none") }),
                               observer: { events.append($0) })
        try server.start()
        defer { server.stop() }
        #expect(!exists(directory.file("crashed/old.sock")))
        #expect(exists(directory.file("live.sock")))
        #expect(events.all.contains { event in
            if case .staleSocketRemoved(let path) = event { return path == directory.file("crashed/old.sock") }
            return false
        })
    }
}
