import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// `policyctl audit summary` on the scenario log: exact figures per key, unknown keys, open sessions.
@Suite struct AuditSummaryTests {
    let scratch: TemporaryDirectory
    let day: AuditScenario

    init() throws {
        scratch = try TemporaryDirectory()
        day = try AuditScenario(log: scratch.file("audit.jsonl"))
    }

    /// `summary --json ARGS LOG`, decoded.
    func summary(_ arguments: [String] = []) throws -> [String: Any] {
        let result = try audit(["summary", "--json"] + arguments + [day.log])
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func keys(_ object: [String: Any]) -> [String: [String: Any]] {
        Dictionary(uniqueKeysWithValues: (object["keys"] as? [[String: Any]] ?? []).map { ($0["key"] as? String ?? "", $0) })
    }

    func openSessions(_ object: [String: Any]) -> [[String: Any]] { object["open_sessions"] as? [[String: Any]] ?? [] }

    @Test func figuresPerKey() throws {
        let all = try summary()
        #expect(all["records_read"] as? Int == day.records.count)
        let figures = keys(all)
        #expect(figures.keys.sorted() == ["alex-laptop", "blake", "carol"])
        let alex = try #require(figures["alex-laptop"])
        #expect(alex["sessions"] as? Int == 3)
        #expect(alex["grants"] as? Int == 3)
        #expect(alex["refusals"] as? Int == 4)
        #expect(alex["failed_logins"] as? Int == 0)
        #expect(alex["bytes_from_client"] as? Int == 1_048_576)
        #expect(alex["bytes_to_client"] as? Int == 2048)
        #expect(alex["last_seen"] as? String == "2026-11-25T10:08:02.000000Z")
        let top = (alex["top_refused_targets"] as? [[String: Any]] ?? []).map { "\($0["kind"]!) \($0["target"]!) \($0["count"]!)" }
        #expect(top == ["tcp-open 10.0.0.1:22 2", "tcp-open 10.0.0.2:80 1", "tcp-listen localhost:9000 1"])
        let blake = try #require(figures["blake"])
        #expect([blake["sessions"], blake["grants"], blake["refusals"], blake["bytes_from_client"], blake["bytes_to_client"]]
            .map { $0 as? Int } == [1, 2, 0, 500, 7000])
        #expect(blake["last_seen"] as? String == "2026-11-25T10:02:31.000000Z")
        let carol = try #require(figures["carol"])
        #expect(carol["sessions"] as? Int == 0)
        #expect(carol["failed_logins"] as? Int == 1)
    }

    @Test func unknownKeysAndOpenSessions() throws {
        let all = try summary()
        let unknown = all["unknown_keys"] as? [[String: Any]] ?? []
        #expect(unknown.map { $0["fingerprint"] as? String } == [Fingerprint.mallory1, Fingerprint.mallory2])
        #expect(unknown.map { $0["failed_logins"] as? Int } == [1, 1])
        #expect(unknown.first?["last_user"] as? String == "root")
        #expect(unknown.first?["last_client"] as? String == "203.0.113.5")
        // Sessions 2 and 4 were still open when the daemon stopped: over. Session 5 is open.
        let open = openSessions(all)
        #expect(open.map { $0["session"] as? Int } == [5])
        #expect(open.first?["key"] as? String == "alex-laptop")
        #expect(open.first?["client"] as? String == "127.0.0.1:50500")
        let listens = open.first?["listens"] as? [[String: Any]] ?? []
        #expect(listens.map { $0["target"] as? String } == ["/srv/portcullis/alex-laptop/api.sock"])
    }

    @Test func untilShowsWhatWasOpenThen() throws {
        let then = try summary(["--until", "2026-11-25T10:05:30Z"])
        let open = openSessions(then)
        #expect(open.map { $0["session"] as? Int } == [2, 4])
        #expect((open.first?["listens"] as? [[String: Any]])?.map { $0["bound"] as? String } == ["127.0.0.1:8080"])
        #expect(then["as_of"] as? String == "2026-11-25T10:05:02.000000Z")
        #expect(keys(then)["alex-laptop"]?["sessions"] as? Int == 2)
    }

    @Test func filtersSelectWhatIsCounted() throws {
        let late = try summary(["--since", "2026-11-25T10:05:00Z"])
        let figures = keys(late)
        #expect(figures.keys.sorted() == ["alex-laptop", "carol"])
        #expect(figures["alex-laptop"]?["sessions"] as? Int == 2)
        #expect(figures["alex-laptop"]?["refusals"] as? Int == 1)
        #expect(figures["alex-laptop"]?["bytes_from_client"] as? Int == 0)
        #expect((late["unknown_keys"] as? [Any])?.isEmpty == true)
        let blake = try summary(["--key", "blake"])
        #expect(keys(blake).keys.sorted() == ["blake"])
        #expect(openSessions(blake).isEmpty)
        #expect(openSessions(try summary(["--key", "alex-laptop"])).map { $0["session"] as? Int } == [5])
    }

    @Test func textTables() throws {
        let result = try audit(["summary", day.log])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("  KEY          SESSIONS  FAILED LOGINS  GRANTS  REFUSALS  BYTES FROM CLIENT  BYTES TO CLIENT  LAST SEEN            TOP REFUSED TARGETS"))
        #expect(lines.contains("  alex-laptop         3              0       3         4            1048576             2048  2026-11-25 10:08:02  10.0.0.1:22 (2), 10.0.0.2:80 (1), localhost:9000 (1)"))
        #expect(lines.contains("  \(Fingerprint.mallory1)         1  2026-11-25 10:03:01  root       203.0.113.5"))
        #expect(lines.contains("        5  alex-laptop  alex  127.0.0.1:50500  2026-11-25 10:08:00  streamlocal-listen /srv/portcullis/alex-laptop/api.sock"))
    }

    @Test func manyRefusedTargetsStayBoundedAndTheTopOneIsFound() throws {
        let log = scratch.file("scan.jsonl")
        let writer = try AuditWriter(path: log, hash: chainHash)
        try writer.append(event: AuditEvent.auth, session: 1, fields: ["user": "eve", "key": "eve", "decision": "allow"])
        for _ in 0..<10 {
            try writer.append(event: AuditEvent.forwardRequest, session: 1, fields: ["kind": "tcp-open", "target": "10.0.0.1:22", "decision": "deny"])
        }
        for port in 1...200 {
            try writer.append(event: AuditEvent.forwardRequest, session: 1, fields: ["kind": "tcp-open", "target": .string("10.9.9.9:\(port)"), "decision": "deny"])
        }
        let result = try audit(["summary", "--json", log])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        let eve = try #require(keys(object)["eve"])
        #expect(eve["refusals"] as? Int == 210)
        #expect(eve["refused_targets_exact"] as? Bool == false)
        let top = try #require((eve["top_refused_targets"] as? [[String: Any]])?.first)
        #expect(top["target"] as? String == "10.0.0.1:22")
        #expect(top["count"] as? Int == 10)
        #expect(try audit(["summary", log]).stdout.contains("10.0.0.1:22 (~10)"))
    }
}
