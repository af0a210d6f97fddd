import Foundation
import Testing
import PortcullisTestSupport

/// `policyctl` driving a running `portcullisd` (started with --pid-file) and the stock ssh client.
@Suite struct PolicyctlEndToEndTests {
    /// The policyctl built next to this test bundle.
    static var policyctl: String {
        URL(fileURLWithPath: TestDaemon.binary).deletingLastPathComponent().appendingPathComponent("policyctl").path
    }

    @Test func addKeyReloadForwardThenRemoveKeyReloadClosesTheSession() throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("etc/portcullis.yaml")
        let socketRoot = directory.file("sockets")
        let port = try TestSocket.freePort()
        func policyctl(_ arguments: [String]) throws -> ProcessResult {
            try run(Self.policyctl, arguments)
        }
        let initialised = try policyctl(["init", "--config", config, "--socket-root", socketRoot, "--listen", "127.0.0.1:\(port)"])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        // Its own control socket, not /run/portcullis's.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: config))
        handle.seekToEndOfFile()
        handle.write(Data("control_socket: \"\(directory.file("control.sock"))\"\n".utf8))
        try handle.close()
        let hostLine = try String(contentsOfFile: directory.file("etc/ssh_host_ed25519_key.pub"), encoding: .utf8)
        try "[127.0.0.1]:\(port) \(hostLine)".write(toFile: directory.file("known_hosts"), atomically: true, encoding: .utf8)
        let pidFile = directory.file("portcullisd.pid")
        let daemon = try BackgroundProcess(TestDaemon.binary, ["--config", config, "--pid-file", pidFile],
                                           errorFile: directory.file("portcullisd.log"))
        defer { daemon.stop() }
        try waitUntil("the pid file") { FileManager.default.fileExists(atPath: pidFile) || !daemon.isRunning }
        #expect(try String(contentsOfFile: pidFile, encoding: .utf8) == "\(daemon.pid)\n")

        let key = try KeyPair.generate(at: directory.file("dana"))
        let added = try policyctl(["add-key", "--config", config, "--name", "dana", "--key", key.publicLine,
                                   "--permit-streamlocal-listen", "\(socketRoot)/%k/*.sock"])
        #expect(added.status == 0, "\(added.stderr)")
        let reloaded = try policyctl(["reload", "--pid-file", pidFile])
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        #expect(reloaded.stdout == "accepted: reloaded \(config): 1 keys\n")

        let socket = "\(socketRoot)/dana/web.sock"
        let ssh = try BackgroundProcess("/usr/bin/ssh", [
            "-F", "/dev/null", "-i", key.privatePath, "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=\(directory.file("known_hosts"))", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
            "-p", String(port), "-N", "-R", "\(socket):127.0.0.1:9", "dana@127.0.0.1",
        ], errorFile: directory.file("ssh.err"))
        defer { ssh.stop() }
        try waitUntil("dana's socket") { FileManager.default.fileExists(atPath: socket) || !ssh.isRunning }
        #expect(ssh.isRunning, "\(ssh.stderr)")

        let removed = try policyctl(["remove-key", "--config", config, "dana"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try policyctl(["reload", "--pid-file", pidFile]).status == 0)
        try waitUntil("dana's session to end") { !ssh.isRunning }
        try waitUntil("dana's socket to go") { !FileManager.default.fileExists(atPath: socket) }

        // A config the daemon rejects is reported with its file:line, and exit 1.
        try (try String(contentsOfFile: config, encoding: .utf8) + "bogus_field: 1\n").write(toFile: config, atomically: true, encoding: .utf8)
        let rejected = try policyctl(["reload", "--pid-file", pidFile, "--json"])
        #expect(rejected.status == 1)
        #expect(rejected.stdout.contains("\"accepted\" : false"))
        #expect(rejected.stdout.contains("portcullis.yaml:"), "\(rejected.stdout)")

        kill(daemon.pid, SIGTERM)
        try waitUntil("the daemon to stop") { !daemon.isRunning }
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }
}
