import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// The audit log of the real daemon, driven by the stock client: every session's records in
/// order, with their reasons, rules and byte counts.
@Suite(.serialized) struct AuditLogTests {
    private func seedDaemon() throws -> TestDaemon {
        try TestDaemon(keys: ["alex": "permit_streamlocal_listen: [\"%ROOT%/%k/*.sock\"]",
                              "blake": "permit_streamlocal_open: [\"%ROOT%/alex/web.sock\"]"])
    }

    /// `FILE:LINE` of the config line holding `text`, as the daemon should name the rule.
    private func location(of text: String, in daemon: TestDaemon) throws -> String {
        let lines = try String(contentsOfFile: daemon.configPath, encoding: .utf8).components(separatedBy: "\n")
        guard let index = lines.firstIndex(where: { $0.contains(text) }) else { throw TestFailure("no \(text) in config") }
        return "\(daemon.configPath):\(index + 1)"
    }

    @Test func seedScenarioWithRefusalsIsRecordedExactly() throws {
        let daemon = try seedDaemon()
        let service = try replyService(randomBytes(30_000))
        let socket = "\(daemon.socketRoot)/alex/web.sock"
        let other = "\(daemon.socketRoot)/alex/other.sock"

        // Alex shares; Blake reaches it and moves 100,000 bytes up and 30,000 down.
        let sharer = try daemon.ssh("alex", ["-N", "-o", "ExitOnForwardFailure=yes",
                                             "-R", "\(socket):127.0.0.1:\(service.port)"])
        try waitUntil("alex's socket") { FileManager.default.fileExists(atPath: socket) }
        let allowedPort = try TestSocket.freePort(), refusedPort = try TestSocket.freePort()
        let consumer = try daemon.ssh("blake", ["-N", "-L", "127.0.0.1:\(allowedPort):\(socket)",
                                                "-L", "127.0.0.1:\(refusedPort):\(other)"])
        let connection = try TestSocket.connectWhenListening(port: allowedPort)
        let received = try TestSocket.exchange(connection, randomBytes(100_000))
        close(connection)
        #expect(received.count == 30_000)
        try waitUntil("both ends of the channel to be closed") {
            (try? AuditLogFiles(path: daemon.auditLog).records().filter { $0.event == AuditEvent.channelClose }.count) == 2
        }
        // A refused open, a refused listen and a failed login.
        _ = try consumer.refusedOpenReport(localPort: refusedPort)
        let refusedListen = try daemon.runSSH("alex", ["-N", "-o", "ExitOnForwardFailure=yes",
                                                       "-R", "\(daemon.socketRoot)/blake/x.sock:127.0.0.1:9"])
        #expect(refusedListen.status == 255)
        let stranger = try KeyPair.generate(at: daemon.directory.file("stranger"))
        var arguments = daemon.sshArguments("alex", ["-N"])
        arguments[arguments.firstIndex(of: daemon.key("alex").privatePath)!] = stranger.privatePath
        #expect(try run("/usr/bin/ssh", arguments).status == 255)
        try waitUntil("the failed login's session to end") {
            (try? AuditLogFiles(path: daemon.auditLog).records().filter { $0.event == AuditEvent.sessionEnd }.count) == 2
        }
        #expect(sharer.isRunning && consumer.isRunning)
        try daemon.terminate()

        let log = AuditLogFiles(path: daemon.auditLog)
        let records = try log.records()
        #expect(records.map(\.seq) == Array(1...UInt64(records.count)), "seq runs 1, 2, 3 ... without gaps")
        #expect(records.first?.event == AuditEvent.daemonStart)
        #expect(records.first?.text("config_digest").count == 64)
        #expect(records.last?.event == AuditEvent.daemonStop)
        #expect(records.last?.number("sessions") == 2)
        let sessions = records.filter { $0.event == AuditEvent.sessionStart }.compactMap(\.session)
        #expect(sessions.count == 4)
        #expect(sessions.allSatisfy { $0 > records.first!.seq }, "session ids follow daemon-start's seq")
        guard sessions.count == 4 else { return }

        // Alex's sharing session: listen granted by its rule, one channel, both byte counts.
        let alex = try log.records(of: sessions[0])
        #expect(alex.map(\.event) == ["session-start", "auth", "forward-request", "forward-bound",
                                      "channel-open", "channel-close", "session-end"])
        if alex.count == 7 {
            #expect(alex[0].text("client") == "127.0.0.1" && alex[0].number("server_port") == Int64(daemon.port))
            #expect(alex[1].text("user") == "alex" && alex[1].text("key") == "alex")
            #expect(alex[1].text("fingerprint") == (try daemon.key("alex").fingerprint()))
            #expect(alex[1].text("decision") == "allow")
            #expect(alex[2].text("kind") == "streamlocal-listen" && alex[2].text("target") == socket)
            #expect(alex[2].text("decision") == "allow")
            #expect(alex[2].text("rule") == (try location(of: "permit_streamlocal_listen", in: daemon)))
            #expect(alex[2].text("pattern") == "\(daemon.socketRoot)/%k/*.sock")
            #expect(alex[3].text("bound") == socket)
            #expect(alex[4].number("channel") == 1 && alex[5].number("channel") == 1)
            #expect(alex[5].number("bytes_to_client") == 100_000)
            #expect(alex[5].number("bytes_from_client") == Int64(received.count))
            #expect(alex[6].number("channels") == 1)
            #expect(alex[6].number("bytes_to_client") == 100_000 && alex[6].number("bytes_from_client") == 30_000)
            #expect(alex[6].text("reason") == "server shutting down")
        }

        // Blake's session: the granted open and its bytes, then the refused one, by channel.
        let blake = try log.records(of: sessions[1])
        #expect(blake.map(\.event) == ["session-start", "auth", "forward-request", "channel-open",
                                       "channel-close", "forward-request", "session-end"])
        if blake.count == 7 {
            #expect(blake[1].text("key") == "blake" && blake[1].text("decision") == "allow")
            #expect(blake[2].text("kind") == "streamlocal-open" && blake[2].text("target") == socket)
            #expect(blake[2].text("decision") == "allow" && blake[2].number("channel") == 1)
            #expect(blake[2].text("rule") == (try location(of: "permit_streamlocal_open", in: daemon)))
            #expect(blake[2].text("originator").hasPrefix("127.0.0.1:"))
            #expect(blake[3].number("channel") == 1)
            #expect(blake[4].number("bytes_from_client") == 100_000)
            #expect(blake[4].number("bytes_to_client") == Int64(received.count))
            #expect(blake[4].self[field: "duration"] != nil)
            #expect(blake[5].text("target") == other && blake[5].text("decision") == "deny")
            #expect(blake[5].number("channel") == 2)
            #expect(blake[5].text("reason").contains("no permit_streamlocal_open rule of key blake matches"))
            #expect(blake[6].number("channels") == 1)
        }

        // The refused listen: decided, refused with the reason, and the client left.
        let refused = try log.records(of: sessions[2])
        #expect(refused.map(\.event) == ["session-start", "auth", "forward-request", "session-end"])
        if refused.count == 4 {
            #expect(refused[2].text("target") == "\(daemon.socketRoot)/blake/x.sock")
            #expect(refused[2].text("decision") == "deny" && !refused[2].text("reason").isEmpty)
            #expect(refused[3].text("reason") == "client disconnected")
        }

        // The failed login: the unknown key's fingerprint and why.
        let failed = try log.records(of: sessions[3])
        #expect(failed.map(\.event) == ["session-start", "auth", "session-end"])
        if failed.count == 3 {
            let fingerprint = try stranger.fingerprint()
            #expect(failed[1].text("decision") == "deny" && failed[1].text("fingerprint") == fingerprint)
            #expect(failed[1][field: "key"] == nil)
            #expect(failed[1].text("reason") == "unknown key ssh-ed25519 \(fingerprint)")
            #expect(failed[2].text("reason") == "disconnected before authenticating")
        }
        try verifyCatchesTampering(daemon.auditLog, in: daemon.directory)
    }

    /// `policyctl audit verify` passes on the daemon's log, and names the line after one byte of a
    /// middle record is changed, a record deleted, or the file cut mid-record.
    private func verifyCatchesTampering(_ log: String, in directory: TemporaryDirectory) throws {
        func verify(_ path: String) throws -> ProcessResult {
            try run(PolicyctlEndToEndTests.policyctl, ["audit", "verify", path])
        }
        let intact = try verify(log)
        #expect(intact.status == 0, "\(intact.stderr)")
        #expect(intact.stdout.hasPrefix("audit log intact: "))
        let original = try Data(contentsOf: URL(fileURLWithPath: log))
        var lines = original.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        lines.removeLast()  // after the final newline
        let middle = lines.count / 2
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = directory.file(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        func joined(_ lines: [[UInt8]]) -> [UInt8] { lines.flatMap { $0 + [UInt8(ascii: "\n")] } }

        // One byte of a middle record: a digit of its timestamp.
        var edited = lines
        let digit = edited[middle].firstIndex(of: UInt8(ascii: "2"))!
        edited[middle][digit] = UInt8(ascii: "3")
        let modified = try verify(try write("modified.jsonl", joined(edited)))
        #expect(modified.status == 1)
        #expect(modified.stdout.contains("modified.jsonl:\(middle + 1): modified"), "\(modified.stdout)")

        var shorter = lines
        shorter.remove(at: middle)
        let deleted = try verify(try write("deleted.jsonl", joined(shorter)))
        #expect(deleted.status == 1)
        #expect(deleted.stdout.contains("deleted.jsonl:\(middle + 1): deleted"), "\(deleted.stdout)")

        let cut = joined(Array(lines[..<middle])) + lines[middle].prefix(lines[middle].count / 2)
        let truncated = try verify(try write("truncated.jsonl", cut))
        #expect(truncated.status == 1)
        #expect(truncated.stdout.contains("truncated.jsonl:\(middle + 1): truncated"), "\(truncated.stdout)")
    }
}

extension AuditLogTests {
    @Test func reloadsAreRecordedWithTheKeysTheyChangedAndTheSessionsTheyEnded() throws {
        let daemon = try seedDaemon()
        let consumer = try daemon.ssh("blake", ["-N"])
        let log = AuditLogFiles(path: daemon.auditLog)
        try waitUntil("blake's login") { (try? log.records().contains { $0.event == AuditEvent.auth }) == true }

        let good = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try (good + "bogus_field: 1\n").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.pid, SIGHUP)
        try waitUntil("the rejection") { (try? log.records().contains { $0.event == AuditEvent.daemonReload }) == true }
        try good.components(separatedBy: "  - name: blake")[0]
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.pid, SIGHUP)
        try waitUntil("blake's session to end") { !consumer.isRunning }
        try waitUntil("both reloads recorded") {
            (try? log.records().filter { $0.event == AuditEvent.daemonReload }.count) == 2
        }
        try daemon.terminate()

        let records = try log.records()
        let reloads = records.filter { $0.event == AuditEvent.daemonReload }
        #expect(reloads.map { $0.text("outcome") } == ["rejected", "applied"])
        #expect(reloads.first?.text("error").contains("bogus_field") == true)
        #expect(reloads.last?[field: "keys_removed"] == .array([.string("blake")]))
        #expect(reloads.last?[field: "keys_added"] == .array([]))
        #expect(reloads.last?.number("keys") == 1)
        #expect(reloads.last?.text("config_digest") != records.first?.text("config_digest"))
        let end = records.first { $0.event == AuditEvent.sessionEnd }
        #expect(end?.text("reason").hasPrefix("key no longer admitted after reload: ") == true)
        let applied = try #require(records.firstIndex { $0.event == AuditEvent.daemonReload && $0.text("outcome") == "applied" })
        #expect(records.firstIndex { $0.event == AuditEvent.sessionEnd }.map { $0 > applied } == true)
        #expect(try log.verify().exitCode == 0)
    }
}

/// Rotation, syslog and a failing disk: nothing lost, nothing twice, nothing unrecorded.
@Suite(.serialized) struct AuditLogDeliveryTests {
    /// Blake may open one TCP echo service.
    private func echoDaemon(extra: String = "") throws -> (TestDaemon, EchoServer, port: Int) {
        let (echo, port) = try EchoServer.tcp()
        let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"127.0.0.1:\(port)\"]"], extra: extra)
        return (daemon, echo, port)
    }

    @Test func sigusr1RotationMidTrafficLosesAndRepeatsNothing() throws {
        let (daemon, echo, echoPort) = try echoDaemon()
        defer { echo.stop() }
        let localPort = try TestSocket.freePort()
        let consumer = try daemon.ssh("blake", ["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(echoPort)"])
        close(try TestSocket.connectWhenListening(port: localPort))

        final class Traffic: @unchecked Sendable {
            let lock = NSLock()
            var connections = 0
            var failure: String?
            var stop = false
        }
        let traffic = Traffic()
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            while !traffic.lock.withLock({ traffic.stop }) {
                do {
                    let fd = try TestSocket.connectTCP(port: localPort)
                    let payload = randomBytes(1000)
                    let back = try TestSocket.exchange(fd, payload)
                    close(fd)
                    guard back == payload else { throw TestFailure("echo differs") }
                    traffic.lock.withLock { traffic.connections += 1 }
                } catch {
                    traffic.lock.withLock { traffic.failure = "\(error)" }
                    return
                }
            }
        }.start()

        // Three rotations as logrotate does them: move the file away, then tell the daemon.
        let log = daemon.auditLog
        func lines(_ path: String) -> Int {
            (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count ?? 0
        }
        for generation in 1...3 {
            try waitUntil("traffic into the current file") { lines(log) >= 20 }
            for older in stride(from: generation - 1, through: 1, by: -1) {
                #expect(rename("\(log).\(older)", "\(log).\(older + 1)") == 0)
            }
            #expect(rename(log, "\(log).1") == 0)
            kill(daemon.process.pid, SIGUSR1)
            try waitUntil("the daemon to reopen the log") { FileManager.default.fileExists(atPath: log) }
        }
        try waitUntil("traffic into the newest file") { lines(log) >= 20 }
        traffic.lock.withLock { traffic.stop = true }
        done.wait()
        #expect(traffic.failure == nil)
        consumer.stop()
        try daemon.terminate()

        let files = AuditLogFiles(path: log)
        #expect(files.files == ["\(log).3", "\(log).2", "\(log).1", log])
        #expect(try files.verify().exitCode == 0)
        let records = try files.records()
        #expect(records.map(\.seq) == Array(1...UInt64(records.count)), "no record lost or written twice")
        // Every echoed connection closed once, with its 1,000 bytes each way (plus the first,
        // empty connection that waited for ssh to listen).
        let closes = records.filter { $0.event == AuditEvent.channelClose }
        let echoed = closes.filter { $0.number("bytes_from_client") == 1000 && $0.number("bytes_to_client") == 1000 }
        #expect(echoed.count == traffic.connections)
        #expect(closes.count == traffic.connections + 1)
        for file in files.files.dropLast() { #expect(lines(file) >= 20, "\(file)") }
    }

    @Test func auditSyslogSendsEveryRecordToTheLocalSocket() throws {
        let directory = try TemporaryDirectory()
        let socketPath = directory.file("log.sock")
        let receiver = try TestSocket.bindDatagram(socketPath)
        defer { close(receiver) }
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"127.0.0.1:\(echoPort)\"]"],
                                    extra: "audit_syslog: true", arguments: ["--syslog-socket", socketPath])
        #expect(try daemon.runSSH("blake", ["-W", "127.0.0.1:\(echoPort)"]).status == 0)
        try daemon.terminate()

        let lines = try String(contentsOfFile: daemon.auditLog, encoding: .utf8).split(separator: "\n").map(String.init)
        var messages: [String] = []
        while let message = TestSocket.receiveDatagram(receiver) { messages.append(message) }
        #expect(messages.count == lines.count)
        for (message, line) in zip(messages, lines) {
            #expect(message.hasPrefix("<86>"), "authpriv.info: \(message)")
            #expect(message.hasSuffix(" portcullisd[\(daemon.process.pid)]: \(line)"), "\(message)")
        }
    }

    @Test(.enabled(if: canMountTmpfs(), "needs root and mount to make a small file system fill up"))
    func aFullDiskHoldsForwardsBackUntilTheirRecordIsWritten() throws {
        let directory = try TemporaryDirectory()
        let small = directory.file("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(try run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", small]).status == 0)
        defer { _ = try? run("/bin/umount", [small]) }
        let (echo, echoPort) = try EchoServer.tcp()
        defer { echo.stop() }
        let daemon = try TestDaemon(keys: ["blake": "permit_open: [\"127.0.0.1:\(echoPort)\"]"],
                                    auditLog: "\(small)/audit.jsonl")
        let localPort = try TestSocket.freePort()
        let consumer = try daemon.ssh("blake", ["-N", "-L", "127.0.0.1:\(localPort):127.0.0.1:\(echoPort)"])
        close(try TestSocket.connectWhenListening(port: localPort))
        try waitUntil("the probe connection's records") {
            ((try? String(contentsOfFile: "\(small)/audit.jsonl", encoding: .utf8)) ?? "").contains("channel-close")
        }

        // Fill the file system: the next record cannot be written.
        let filler = "\(small)/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        // The log's last page may still take a record or two: make connections until a write fails.
        var attempts = 0
        while !daemon.process.stderr.contains("cannot write the audit log") {
            attempts += 1
            guard attempts <= 20 else { throw TestFailure("the audit log never filled up") }
            let connection = try TestSocket.connectTCP(port: localPort)
            defer { close(connection) }
            try TestSocket.writeAll(connection, Array("fill".utf8))
            var ready = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            try waitUntil("an echo or the failing log") {
                poll(&ready, 1, 10) == 1 || daemon.process.stderr.contains("cannot write the audit log")
            }
        }
        // From now on every record waits behind the one that failed, and so does this open.
        let held = try TestSocket.connectTCP(port: localPort)
        defer { close(held) }
        try TestSocket.writeAll(held, Array("held".utf8))
        var pending = pollfd(fd: held, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pending, 1, 1000) == 0, "nothing may pass before the open is recorded")

        unlink(filler)
        var echoed = [UInt8](repeating: 0, count: 4)
        #expect(poll(&pending, 1, 10_000) == 1)
        #expect(read(held, &echoed, 4) == 4 && echoed == Array("held".utf8))
        #expect(consumer.isRunning)
        #expect(try AuditLogFiles(path: "\(small)/audit.jsonl").verify().exitCode == 0)
        try waitUntil("the daemon to report the log is written again") {
            daemon.process.stderr.contains("is being written again")
        }
    }
}

/// Whether this test run may mount a tmpfs (root, not forbidden by the container).
private func canMountTmpfs() -> Bool {
    guard geteuid() == 0, let directory = try? TemporaryDirectory() else { return false }
    defer { _ = try? run("/bin/umount", [directory.path]) }
    return (try? run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory.path]).status) == 0
}
