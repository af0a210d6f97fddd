import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// A running `policyctl audit follow`, its output in files.
final class Follower {
    let scratch: TemporaryDirectory
    let pid: pid_t
    private var exited: Int32?

    init(_ arguments: [String]) throws {
        scratch = try TemporaryDirectory()
        pid = try spawn(policyctlBinary, ["audit", "follow"] + arguments, stdout: scratch.file("out"), stderr: scratch.file("err"))
    }

    deinit { if exited == nil { kill(pid, SIGKILL); _ = stop(SIGKILL) } }

    var output: String { (try? scratch.read("out")) ?? "" }
    var errors: String { (try? scratch.read("err")) ?? "" }
    /// Output lines after the table's header.
    var rows: [String] { output.split(separator: "\n").dropFirst().map(String.init) }

    /// Whether the output comes to hold `text` within `seconds`.
    func shows(_ text: String, within seconds: Double) -> Bool { eventually(within: seconds) { output.contains(text) } }

    /// Sends `signal` and waits up to 5 s for the exit; the exit status, nil if it did not exit.
    func stop(_ signal: Int32) -> Int32? {
        if let exited { return exited }
        kill(pid, signal)
        var status: Int32 = 0
        let done = eventually(within: 5) { waitpid(pid, &status, WNOHANG) == pid }
        guard done else { return nil }
        exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return exited
    }
}

/// `policyctl audit follow`: new records within a second, through rotation and truncation.
@Suite struct AuditFollowTests {
    let scratch: TemporaryDirectory
    let log: String
    let writer: AuditWriter

    init() throws {
        scratch = try TemporaryDirectory()
        log = scratch.file("audit.jsonl")
        writer = try AuditWriter(path: log, hash: chainHash)
    }

    func start(_ session: UInt64, key: String, client: String = "127.0.0.1") throws {
        try writer.append(event: AuditEvent.sessionStart, session: session, fields: ["client": .string(client), "client_port": 50000])
        try writer.append(event: AuditEvent.auth, session: session, fields: ["user": "alex", "key": .string(key), "decision": "allow"])
    }

    func refuse(_ session: UInt64, _ target: String) throws {
        try writer.append(event: AuditEvent.forwardRequest, session: session, fields: [
            "kind": "tcp-open", "target": .string(target), "decision": "deny", "reason": .string("no permit_open rule matches \(target)"),
        ])
    }

    @Test func newRecordsWithinASecondThroughRotationAndTruncation() throws {
        try start(1, key: "alex")
        try refuse(1, "10.0.0.1:1")
        let follower = try Follower([log])
        // The header is printed once the log has been read to its end: from then on, all is new.
        #expect(follower.shows("TIME (UTC)", within: 10), "\(follower.errors)")
        try refuse(1, "10.0.0.1:2")
        #expect(follower.shows("10.0.0.1:2", within: 1), "not shown within 1 s: \(follower.output)")
        #expect(!follower.output.contains("10.0.0.1:1"), "an old record was printed: \(follower.output)")

        // logrotate: rename, the writer still writes once to the old file, then reopens.
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try refuse(1, "10.0.0.1:3")
        try writer.reopen()
        try refuse(1, "10.0.0.1:4")
        #expect(follower.shows("10.0.0.1:4", within: 1), "\(follower.output)")
        try refuse(1, "10.0.0.1:5")
        #expect(follower.shows("10.0.0.1:5", within: 1), "\(follower.output)")

        // copytruncate: the file is cut to nothing in place, and written on.
        #expect(truncate(log, 0) == 0)
        try refuse(1, "10.0.0.1:6")
        #expect(follower.shows("10.0.0.1:6", within: 1), "\(follower.output)")

        #expect(follower.stop(SIGTERM) == 0)
        let targets = follower.rows.compactMap { row in row.split(separator: " ").first { $0.hasPrefix("10.0.0.1:") } }
        #expect(targets == ["10.0.0.1:2", "10.0.0.1:3", "10.0.0.1:4", "10.0.0.1:5", "10.0.0.1:6"].map { Substring($0) })
        #expect(follower.errors.contains("\(log) was truncated; reading it again from its start"), "\(follower.errors)")
    }

    @Test func keyFilterKnowsSessionsOpenBeforeItStarted() throws {
        try start(1, key: "alex")
        try start(2, key: "blake")
        let follower = try Follower(["--key", "alex", "--json", log])
        // No header with --json: wait until it has the file open and read to its end.
        #expect(eventually(within: 10) { Self.hasRead(pid: follower.pid, path: log, upTo: Self.size(log)) })
        try refuse(2, "10.0.0.2:22")
        try refuse(1, "10.0.0.1:22")
        #expect(follower.shows("10.0.0.1:22", within: 1), "\(follower.output)")
        #expect(follower.stop(SIGINT) == 0)
        let lines = try fileLines(log)
        #expect(follower.output == lines.last! + "\n")
    }

    @Test func fromStartPrintsRotatedSiblingsFirst() throws {
        try start(1, key: "alex")
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try writer.reopen()
        try refuse(1, "10.0.0.1:1")
        try start(2, key: "blake")
        let follower = try Follower(["--from-start", "--json", "--key", "alex", log + ".1", log])
        let expected = (try fileLines(log + ".1") + fileLines(log)).filter { $0.contains("\"session\":1") && !$0.contains(AuditEvent.sessionStart) }
        #expect(eventually(within: 10) { follower.output == expected.map { $0 + "\n" }.joined() }, "\(follower.output)")
        try refuse(1, "10.0.0.1:2")
        #expect(follower.shows("10.0.0.1:2", within: 1))
        #expect(follower.stop(SIGTERM) == 0)
        #expect(try seqs(follower.output) == [2, 3, 6])
    }

    static func size(_ path: String) -> Int64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
    }

    /// Whether process `pid` has `path` open and its position there is at least `offset`.
    static func hasRead(pid: pid_t, path: String, upTo offset: Int64) -> Bool {
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        return descriptors.contains { fd in
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == path,
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                  let position = info.split(separator: "\n").first(where: { $0.hasPrefix("pos:") })?.split(separator: "\t").last
            else { return false }
            return Int64(position.trimmingCharacters(in: .whitespaces)).map { $0 >= offset } ?? false
        }
    }
}
