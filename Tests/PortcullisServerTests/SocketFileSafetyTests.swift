import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

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

    /// "/" then a combining mark is one Character: the path must still be walked component by
    /// component (found by the path-pattern fuzzer).
    @Test func symlinkedDirectoryBeforeACombiningMarkIsRefused() throws {
        let server = try TestServer()
        let elsewhere = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: elsewhere.file("\u{301}x"), withIntermediateDirectories: true)
        #expect(symlink(elsewhere.path, server.directory.file("link")) == 0)
        let result = try #require(try tryListen(server, server.directory.file("link/\u{301}x/x.sock")))
        #expect(result.status == 255)
        #expect(!exists(elsewhere.file("\u{301}x/x.sock")))
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

    @Test func staleSocketTheDaemonDidNotCreateIsRefusedAndLeftUntouched() throws {
        let server = try TestServer()
        let path = server.directory.file("stale.sock")
        close(try TestSocket.listenUnix(path))  // the file stays, nobody accepts on it
        let before = try fileID(path)
        let result = try #require(try tryListen(server, path))
        #expect(result.status == 255)
        try server.events.wait(for: "the failure") { event in
            if case .forwardFailed(_, _, let reason, _) = event { return reason.contains("not created by portcullisd") }
            return false
        }
        #expect(try fileID(path) == before)
    }

    @Test func theDaemonsOwnNamesAreRefused() throws {
        let server = try TestServer()
        let record = server.directory.file(SocketRegistry.fileName)
        let before = try Data(contentsOf: URL(fileURLWithPath: record))
        for path in [record, server.directory.file(".portcullis-x/a.sock")] {
            let result = try #require(try tryListen(server, path))
            #expect(result.status == 255)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: record)) == before)
        #expect(!exists(server.directory.file(".portcullis-x")))
    }

    @Test func liveSocketIsRefusedAndKeepsWorking() throws {
        let server = try TestServer()
        let path = server.directory.file("live.sock")
        let echo = try EchoServer.unix(path)
        defer { echo.stop() }
        let result = try #require(try tryListen(server, path))
        #expect(result.status == 255)
        try server.events.wait(for: "the failure") { event in
            if case .forwardFailed(_, _, let reason, _) = event { return reason.contains("not created by portcullisd") }
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
            return .allow(rule: .at("test.yaml", 1, "test"))
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

    @Test func onStartOnlyTheDaemonsOwnStaleSocketsAreRemoved() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("crashed"), withIntermediateDirectories: true)
        let ours = directory.file("crashed/old.sock")
        let foreign = directory.file("crashed/foreign.sock")
        close(try TestSocket.listenUnix(ours))
        close(try TestSocket.listenUnix(foreign))
        let rawName = Array(directory.file("crashed/").utf8) + [0xFF, 0xFE] + Array(".sock".utf8)
        close(try TestSocket.listenUnix(directory.file("crashed/raw.sock")))
        #expect(withRawPath(rawName) { rename(directory.file("crashed/raw.sock"), $0) } == 0)
        let live = try EchoServer.unix(directory.file("live.sock"))
        defer { live.stop() }
        do {
            // What a crashed daemon left: its record of the socket it had created.
            let record = try SocketRegistry(path: directory.file(SocketRegistry.fileName))
            record.created(try fileID(ours), path: Array(ours.utf8))
        }
        let events = EventLog()
        let hostKey = try KeyPair.generate(at: directory.file("host_key"))
        let server = SSHServer(configuration: ServerConfiguration(
                                   listen: [Endpoint(host: "127.0.0.1", port: 0)], hostKeys: [hostKey.privatePath],
                                   socketRoot: directory.path),
                               authority: TestAuthority(keys: [], decide: { _ in .deny(reason: "none") }),
                               observer: { events.append($0) })
        try server.start()
        defer { server.stop() }
        #expect(!exists(ours))
        #expect(exists(foreign))
        #expect(exists(directory.file("live.sock")))
        #expect(rawExists(rawName))
        #expect(events.all.contains { event in
            if case .staleSocketRemoved(let path) = event { return path == ours }
            return false
        })
        let leftAlone = events.all.compactMap { event -> String? in
            if case .socketLeftAlone(let path, let reason) = event { return "\(path): \(reason)" }
            return nil
        }
        #expect(leftAlone.contains("\(foreign): not created by portcullisd"))
        #expect(leftAlone.contains("\(directory.file("crashed/"))\\xff\\xfe.sock: not created by portcullisd"))
        #expect(leftAlone.contains("\(directory.file("live.sock")): not created by portcullisd"))
    }

    @Test func theRecordForgetsWhatIsGoneAndSurvivesATornLine() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(SocketRegistry.fileName)
        let gone = FileID(device: 1, inode: 2)
        do {
            let record = try SocketRegistry(path: path)
            record.created(gone, path: Array("/nowhere/x.sock".utf8))
            record.created(FileID(device: 3, inode: 4), path: Array("/nowhere/y.sock".utf8))
            record.removed(FileID(device: 3, inode: 4))
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("+ 5 6 2f".utf8))  // a crash mid-append
        try handle.close()
        let reread = try SocketRegistry(path: path)
        #expect(reread.entries.map { FileID(device: $0.device, inode: $0.inode) } == [gone])
        _ = UnixSocketFile.sweep(root: directory.path, registry: reread)
        #expect(reread.entries.isEmpty)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "")
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test func theStartUpWalkIsBounded() throws {
        let directory = try TemporaryDirectory()
        var deep = directory.path
        for _ in 0..<(UnixSocketFile.sweepMaxDepth + 2) { deep += "/d" }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        let record = try SocketRegistry(path: directory.file(SocketRegistry.fileName))
        let sweep = UnixSocketFile.sweep(root: directory.path, registry: record)
        #expect(sweep.incomplete?.contains("deeper than \(UnixSocketFile.sweepMaxDepth)") == true)
    }

    private func fileID(_ path: String) throws -> FileID {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw POSIXError(.ENOENT) }
        return FileID(info)
    }

    private func withRawPath<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (bytes.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    private func rawExists(_ bytes: [UInt8]) -> Bool {
        var info = stat()
        return withRawPath(bytes) { lstat($0, &info) } == 0
    }
}
