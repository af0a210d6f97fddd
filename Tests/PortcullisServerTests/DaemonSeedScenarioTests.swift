import Foundation
import Testing
import PortcullisTestSupport

/// The real `portcullisd` binary with a YAML config, driven by the stock client: key A shares a web
/// server on a Unix socket under its own directory, key B reaches it, and nobody gets more.
@Suite(.serialized) struct DaemonSeedScenarioTests {
    /// Key A (alex) may listen under its own directory; key B (blake) may open alex's web.sock.
    private func seedDaemon() throws -> TestDaemon {
        try TestDaemon(keys: ["alex": "permit_streamlocal_listen: [\"%ROOT%/%k/*.sock\"]",
                              "blake": "permit_streamlocal_open: [\"%ROOT%/alex/web.sock\"]"])
    }

    /// A web server with one file, as the service alex shares.
    private func webServer(in directory: TemporaryDirectory) throws -> (BackgroundProcess, port: Int, body: String) {
        let site = directory.file("site")
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        let body = "<h1>shared through portcullis</h1>\n" + String(repeating: "0123456789abcdef", count: 4096)
        try body.write(toFile: "\(site)/index.html", atomically: true, encoding: .utf8)
        let port = try TestSocket.freePort()
        let server = try BackgroundProcess("/usr/bin/python3", ["-m", "http.server", String(port),
                                                                "--bind", "127.0.0.1", "--directory", site],
                                           errorFile: directory.file("http.log"))
        try waitUntil("the web server") { (try? TestSocket.connectTCP(port: port)).map { close($0) } != nil }
        return (server, port, body)
    }

    @Test func alexSharesAWebServerAndBlakeReachesIt() throws {
        let daemon = try seedDaemon()
        let (web, webPort, body) = try webServer(in: daemon.directory)
        defer { web.stop() }
        let socket = "\(daemon.socketRoot)/alex/web.sock"

        let sharer = try daemon.ssh("alex", ["-N", "-o", "ExitOnForwardFailure=yes",
                                                          "-R", "\(socket):127.0.0.1:\(webPort)"])
        try waitUntil("alex's socket") { FileManager.default.fileExists(atPath: socket) }
        var info = stat()
        #expect(lstat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600)

        let localPort = try TestSocket.freePort()
        let consumer = try daemon.ssh("blake", ["-N", "-L", "127.0.0.1:\(localPort):\(socket)"])
        close(try TestSocket.connectWhenListening(port: localPort))

        let curl = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(localPort)/"])
        #expect(curl.status == 0, "curl: \(curl.stderr)")
        #expect(curl.stdout == body)

        // HTTP/1.0 clients that close their write side first get the whole response, every time.
        for attempt in 1...20 {
            let response = try run("/bin/sh", ["-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -N 127.0.0.1 \(localPort)"])
            #expect(response.stdout.hasSuffix(body), "request \(attempt) got \(response.stdout.utf8.count) bytes")
        }
        #expect(sharer.isRunning && consumer.isRunning)

        // After alex disconnects the file is gone, and alex can listen again at once.
        sharer.stop()
        try waitUntil("the socket to be removed") { !FileManager.default.fileExists(atPath: socket) }
        let again = try daemon.ssh("alex", ["-N", "-o", "ExitOnForwardFailure=yes",
                                                         "-R", "\(socket):127.0.0.1:\(webPort)"])
        try waitUntil("alex's socket again") { FileManager.default.fileExists(atPath: socket) }
        #expect(again.isRunning)
    }

    @Test func listensOutsideThePatternAreRefused() throws {
        let daemon = try seedDaemon()
        try FileManager.default.createDirectory(atPath: "\(daemon.socketRoot)/elsewhere", withIntermediateDirectories: true)
        #expect(symlink("\(daemon.socketRoot)/elsewhere", "\(daemon.socketRoot)/alex") == 0)
        for path in ["\(daemon.socketRoot)/blake/web.sock",          // another key's directory
                     "\(daemon.socketRoot)/alex/../blake/web.sock",  // a ".." component
                     "\(daemon.socketRoot)/alex/web.sock"] {         // through a symlinked directory
            let result = try run("/usr/bin/ssh", daemon.sshArguments("alex", [
                "-N", "-o", "ExitOnForwardFailure=yes", "-R", "\(path):127.0.0.1:9"]))
            #expect(result.status == 255, "\(path)")
            #expect(result.stderr.contains("remote port forwarding failed for listen path"), "\(path)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(daemon.socketRoot)/elsewhere/web.sock"))
    }

    @Test func blakeCannotOpenAnyOtherSocket() throws {
        let daemon = try seedDaemon()
        let other = "\(daemon.socketRoot)/alex/other.sock"
        let localPort = try TestSocket.freePort()
        let consumer = try daemon.ssh("blake", ["-N", "-L", "127.0.0.1:\(localPort):\(other)"])
        #expect(try consumer.refusedOpenReport(localPort: localPort).contains("administratively prohibited"))
    }

    @Test func unknownKeyIsDenied() throws {
        let daemon = try seedDaemon()
        let stranger = try KeyPair.generate(at: daemon.directory.file("stranger"))
        var arguments = daemon.sshArguments("alex", ["-N"])
        arguments[arguments.firstIndex(of: daemon.key("alex").privatePath)!] = stranger.privatePath
        let result = try run("/usr/bin/ssh", arguments)
        #expect(result.status == 255)
        #expect(result.stderr.contains("Permission denied (publickey)"))
    }

    @Test func reloadRevokesARemovedKeyAndKeepsOthers() throws {
        let daemon = try seedDaemon()
        let socket = "\(daemon.socketRoot)/alex/r.sock"
        let sharer = try daemon.ssh("alex", ["-N", "-R", "\(socket):127.0.0.1:9"])
        let consumer = try daemon.ssh("blake", ["-N"])
        try waitUntil("both sessions") { daemon.process.stderr.components(separatedBy: "accepted key").count == 3 }

        // An invalid config is rejected and changes nothing.
        let good = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try (good + "bogus_field: 1\n").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.pid, SIGHUP)
        try waitUntil("the rejection") { daemon.process.stderr.contains("reload rejected") }
        #expect(daemon.process.stderr.contains("portcullis.yaml:"))

        // Without blake's key, blake's session ends; alex's carries on.
        let withoutBlake = good.components(separatedBy: "  - name: blake")[0]
        try withoutBlake.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.pid, SIGHUP)
        try waitUntil("blake's session to end") { !consumer.isRunning }
        #expect(sharer.isRunning)
        #expect(FileManager.default.fileExists(atPath: socket))
    }

    @Test func sigtermClosesSessionsRemovesSocketsAndExitsZero() throws {
        let daemon = try seedDaemon()
        let socket = "\(daemon.socketRoot)/alex/t.sock"
        let sharer = try daemon.ssh("alex", ["-N", "-R", "\(socket):127.0.0.1:9"])
        try waitUntil("alex's socket") { FileManager.default.fileExists(atPath: socket) }
        kill(daemon.process.pid, SIGTERM)
        try waitUntil("the daemon to exit") { !daemon.process.isRunning }
        #expect(daemon.process.exitStatus == 0, "\(daemon.process.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket))
        try waitUntil("the client to notice") { !sharer.isRunning }
    }
}
