import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// One proxy's audit log, written with the real AuditWriter and that proxy's id.
final class ProxyLog {
    let proxy: String
    let path: String
    private let clock = TestClock(at(0))
    private(set) var writer: AuditWriter

    init(_ proxy: String?, in scratch: TemporaryDirectory) throws {
        self.proxy = proxy ?? ""
        let directory = scratch.file(proxy ?? "old")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/audit.jsonl"
        let clock = clock
        writer = try AuditWriter(path: path, hash: chainHash, now: { clock.now }, proxy: proxy)
    }

    @discardableResult
    func write(_ time: Date, _ event: String, session: UInt64? = nil, _ fields: KeyValuePairs<String, JSONValue> = [:]) throws -> AuditRecord {
        clock.set(time)
        return try writer.append(event: event, session: session, fields: fields)
    }

    /// logrotate: the log becomes `audit.jsonl.1` and a new one is started.
    func rotate() throws {
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try writer.reopen()
    }
}

/// `policyctl audit` over the logs of several proxies: merged in time order, sessions and
/// daemon starts kept per proxy, each chain verified alone.
@Suite struct AuditMergeTests {
    let scratch: TemporaryDirectory
    let a: ProxyLog
    let b: ProxyLog

    /// Two proxies whose session 1 are different people: alex on proxy-a, blake on proxy-b. Their
    /// records interleave in time; proxy-a's log was rotated in the middle.
    init() throws {
        scratch = try TemporaryDirectory()
        a = try ProxyLog("proxy-a", in: scratch)
        b = try ProxyLog("proxy-b", in: scratch)
        try a.write(at(0), AuditEvent.daemonStart, ["pid": 1])
        try b.write(at(0, 30), AuditEvent.daemonStart, ["pid": 2])
        try a.write(at(1), AuditEvent.sessionStart, session: 1, ["client": "127.0.0.1", "client_port": 50000])
        try a.write(at(1, 1), AuditEvent.auth, session: 1, ["user": "alex", "key": "alex", "decision": "allow"])
        try b.write(at(1, 2), AuditEvent.sessionStart, session: 1, ["client": "192.0.2.10", "client_port": 61000])
        try a.rotate()
        try b.write(at(1, 3), AuditEvent.auth, session: 1, ["user": "blake", "key": "blake", "decision": "allow"])
        try b.write(at(1, 4), AuditEvent.forwardRequest, session: 1, ["kind": "tcp-open", "target": "10.0.0.1:22", "decision": "deny",
                                                                      "reason": "no permit_open rule of key blake matches 10.0.0.1:22"])
        try a.write(at(1, 5), AuditEvent.forwardRequest, session: 1, ["kind": "tcp-listen", "target": "localhost:8080", "decision": "allow"])
        try a.write(at(1, 5), AuditEvent.forwardBound, session: 1, ["kind": "tcp-listen", "target": "localhost:8080", "bound": "127.0.0.1:8080"])
        try b.write(at(1, 5), AuditEvent.forwardRequest, session: 1, ["kind": "tcp-listen", "target": "localhost:9090", "decision": "allow"])
        try b.write(at(1, 5), AuditEvent.forwardBound, session: 1, ["kind": "tcp-listen", "target": "localhost:9090", "bound": "127.0.0.1:9090"])
    }

    /// Every file, in an order an administrator might give them: proxies mixed, each oldest first.
    var files: [String] { [a.path + ".1", b.path, a.path] }

    /// `(proxy, seq, ts)` of each line of `--json` output.
    func records(_ output: String) throws -> [(proxy: String, seq: UInt64, ts: String)] {
        try output.split(separator: "\n").map {
            let record = try AuditRecord(line: Array($0.utf8))
            return (record.proxy ?? "", record.seq, record.ts)
        }
    }

    @Test func recordsAreMergedInTimeOrderAndTiesKeepTheOrderGiven() throws {
        let result = try audit(["--json"] + files)
        #expect(result.status == 0, "\(result.stderr)")
        let shown = try records(result.stdout)
        #expect(shown.count == 11)
        #expect(shown.map(\.ts) == shown.map(\.ts).sorted())
        #expect(shown.map { "\($0.proxy.suffix(1))\($0.seq)" } == ["a1", "b1", "a2", "a3", "b2", "b3", "b4", "a4", "a5", "b5", "b6"])
        // The lines are the log's own bytes.
        let lines = Set(try fileLines(a.path + ".1") + fileLines(a.path) + fileLines(b.path))
        #expect(Set(result.stdout.split(separator: "\n").map(String.init)) == lines)
    }

    @Test func sessionsAreToldApartPerProxy() throws {
        // Session 1 of proxy-b is blake's, though proxy-a's session 1 (alex) is open meanwhile.
        let alex = try records(try audit(["--json", "--key", "alex"] + files).stdout)
        #expect(alex.map { "\($0.proxy.suffix(1))\($0.seq)" } == ["a3", "a4", "a5"])
        let blake = try records(try audit(["--json", "--key", "blake"] + files).stdout)
        #expect(blake.map { "\($0.proxy.suffix(1))\($0.seq)" } == ["b3", "b4", "b5", "b6"])
        let onB = try records(try audit(["--json", "--proxy", "proxy-b", "--session", "1"] + files).stdout)
        #expect(onB.map { "\($0.proxy.suffix(1))\($0.seq)" } == ["b2", "b3", "b4", "b5", "b6"])
        #expect(try audit(["--json", "--proxy", "proxy-c"] + files).stdout.isEmpty)
    }

    @Test func theTableHasAProxyColumnOnlyForSeveralProxies() throws {
        let merged = try audit(["--decision", "deny"] + files)
        #expect(merged.status == 0)
        let lines = merged.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("TIME (UTC)           PROXY       SESSION  EVENT"))
        #expect(lines[1].hasPrefix("2026-11-25 10:01:04  proxy-b           1  forward-request  blake"))
        let alone = try audit(["--decision", "deny", b.path])
        #expect(alone.stdout.split(separator: "\n").first?.hasPrefix("TIME (UTC)           SESSION  EVENT") == true)
        #expect(!alone.stdout.contains("proxy-b"))
    }

    @Test func summaryKeepsEachProxysOpenSessions() throws {
        let result = try audit(["summary"] + files)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("  PROXY    SESSION  KEY    USER   CLIENT"), "\(result.stdout)")
        #expect(result.stdout.contains("  proxy-a        1  alex   alex   127.0.0.1:50000   2026-11-25 10:01:00  tcp-listen localhost:8080"))
        #expect(result.stdout.contains("  proxy-b        1  blake  blake  192.0.2.10:61000  2026-11-25 10:01:02  tcp-listen localhost:9090"))
        let json = try audit(["summary", "--json"] + files)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let open = object?["open_sessions"] as? [[String: Any]] ?? []
        #expect(open.map { $0["proxy"] as? String } == ["proxy-a", "proxy-b"])
    }

    @Test func eachChainIsVerifiedAlone() throws {
        let result = try audit(["verify"] + files)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout == """
            proxy-a: audit log intact: 5 records, seq 1-5 across 2 files
            proxy-b: audit log intact: 6 records, seq 1-6 across 1 file

            """)
    }

    @Test func aBreakNamesTheProxyAndTheFileAndTheOtherChainsAreStillVerified() throws {
        var lines = try fileLines(b.path)
        lines[3] = lines[3].replacingOccurrences(of: "10.0.0.1:22", with: "10.0.0.2:22")
        let tampered = try scratch.write("b-tampered.jsonl", lines.joined(separator: "\n") + "\n")
        let result = try audit(["verify", a.path + ".1", tampered, a.path])
        #expect(result.status == 1)
        #expect(result.stdout == """
            proxy-a: audit log intact: 5 records, seq 1-5 across 2 files
            proxy-b: audit log BROKEN at \(tampered):4: modified: its hash does not match the prev of \(tampered):5

            """)
        // A file of proxy-a left out: proxy-a's chain shows the gap; proxy-b is intact.
        let gap = try audit(["verify", b.path, a.path])
        #expect(gap.status == 0)
        let missing = try audit(["verify", a.path + ".1", b.path])
        #expect(missing.status == 0)
        try FileManager.default.removeItem(atPath: a.path + ".1")
        let onlyLater = try audit(["verify", b.path, a.path])
        #expect(onlyLater.stdout.contains("proxy-a: audit log intact: 2 records, seq 4-5 across 1 file"))
    }

    @Test func aLogFromBeforeProxyIdsIsAChainOfItsOwn() throws {
        let old = try ProxyLog(nil, in: scratch)
        try old.write(at(0, 10), AuditEvent.daemonStart, ["pid": 3])
        try old.write(at(1, 4), AuditEvent.sessionStart, session: 1, ["client": "198.51.100.7", "client_port": 1])
        let verify = try audit(["verify", old.path, a.path + ".1", a.path])
        #expect(verify.status == 0)
        #expect(verify.stdout == """
            (no proxy id) \(old.path): audit log intact: 2 records, seq 1-2 across 1 file
            proxy-a: audit log intact: 5 records, seq 1-5 across 2 files

            """)
        let shown = try records(try audit(["--json", old.path, a.path + ".1", a.path]).stdout)
        #expect(shown.map { "\($0.proxy.suffix(1))\($0.seq)" } == ["a1", "1", "a2", "a3", "2", "a4", "a5"])
    }
}
