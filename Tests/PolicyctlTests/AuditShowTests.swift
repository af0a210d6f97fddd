import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// `policyctl audit [show]` on a scenario log written by the real AuditWriter: each filter, the
/// table, `--json`, rotated and compressed siblings, and usage errors.
@Suite struct AuditShowTests {
    let scratch: TemporaryDirectory
    let day: AuditScenario

    init() throws {
        scratch = try TemporaryDirectory()
        day = try AuditScenario(log: scratch.file("audit.jsonl"))
    }

    /// The seqs `policyctl audit --json ARGS LOG` prints; it must succeed.
    func shown(_ arguments: [String]) throws -> [UInt64] {
        let result = try audit(["--json"] + arguments + [day.log])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try seqs(result.stdout)
    }

    @Test func keyFilterFollowsTheSessionButNotEarlierAttempts() throws {
        let alexSessions: Set<UInt64> = [1, 4, 5]
        let expected = day.seqs { alexSessions.contains($0.session ?? 0) && $0.event != AuditEvent.sessionStart }
        #expect(try shown(["--key", "alex-laptop"]) == expected)
        // The refused opens name no key themselves: they are found through their session.
        let refusedOpens = day.seqs { $0.session == 1 && $0[field: "decision"] == "deny" }
        #expect(refusedOpens.count == 3)
        #expect(Set(refusedOpens).isSubset(of: Set(expected)))
        #expect(try shown(["--key", "nobody"]).isEmpty)
    }

    @Test func fingerprintAndUser() throws {
        #expect(try shown(["--fingerprint", Fingerprint.blake]) == day.seqs { $0.session == 2 && $0.event != AuditEvent.sessionStart })
        // Both unknown keys tried root: their attempts and the session's end.
        #expect(try shown(["--user", "root"]) == day.seqs { $0.session == 3 && $0.event != AuditEvent.sessionStart })
        #expect(try shown(["--fingerprint", Fingerprint.mallory2]) == day.seqs {
            $0.session == 3 && ($0[field: "fingerprint"]?.stringValue == Fingerprint.mallory2 || $0.event == AuditEvent.sessionEnd)
        })
    }

    @Test func clientTakesAnAddressOrANetwork() throws {
        #expect(try shown(["--client", "203.0.113.0/24"]) == day.seqs { $0.session == 3 })
        #expect(try shown(["--client", "127.0.0.1"]) == day.seqs { [1, 4, 5].contains($0.session ?? 0) })
        #expect(try shown(["--client", "10.0.0.0/8"]).isEmpty)
        let bad = try audit(["--client", "10.0.0.1/8", day.log])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--client \"10.0.0.1/8\": host bits set"), "\(bad.stderr)")
    }

    @Test func eventDecisionKindTargetSession() throws {
        #expect(try shown(["--event", "session-end"]) == day.seqs { $0.event == AuditEvent.sessionEnd })
        #expect(try shown(["--decision", "deny"]) == day.seqs { $0[field: "decision"] == "deny" })
        #expect(try shown(["--decision", "deny"]).count == 7)
        #expect(try shown(["--kind", "tcp-open"]) == day.seqs { $0[field: "kind"] == "tcp-open" })
        #expect(try shown(["--target", "/srv/portcullis/alex-laptop/*"]) == day.seqs {
            $0[field: "target"]?.stringValue?.hasPrefix("/srv/portcullis/alex-laptop/") == true
        })
        #expect(try shown(["--target", "10.0.0.?:2*"]) == day.seqs { $0[field: "target"] == "10.0.0.1:22" })
        #expect(try shown(["--session", "2"]) == day.seqs { $0.session == 2 })
        // Filters combine: alex's refusals of tcp-open only.
        #expect(try shown(["--key", "alex-laptop", "--decision", "deny", "--kind", "tcp-open"]) == day.seqs {
            $0.session == 1 && $0[field: "decision"] == "deny"
        })
        let misspelt = try audit(["--event", "session-ended", day.log])
        #expect(misspelt.status == 2)
        #expect(misspelt.stderr.contains("--event \"session-ended\": unknown event (one of: daemon-start,"), "\(misspelt.stderr)")
        #expect(try audit(["--kind", "tcp", day.log]).status == 2)
        #expect(try audit(["--decision", "maybe", day.log]).status == 2)
    }

    @Test func sinceAndUntilAbsolute() throws {
        let window = try shown(["--since", "2026-11-25T10:02:00Z", "--until", "2026-11-25T10:03:00Z"])
        #expect(window == day.seqs { $0.session == 2 })
        #expect(try shown(["--since", "2026-11-25T10:09:00Z"]) == day.seqs { $0.session == 6 })
        // --until is exclusive; an offset is honoured.
        #expect(try shown(["--until", "2026-11-25T11:00:01+01:00"]) == day.seqs { $0.ts < "2026-11-25T10:00:01" })
        let bad = try audit(["--since", "yesterday", day.log])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--since \"yesterday\": expected an RFC 3339 time"), "\(bad.stderr)")
        #expect(try audit(["--since", "2026-11-25T10:05:00Z", "--until", "2026-11-25T10:01:00Z", day.log]).status == 2)
    }

    @Test func sinceAndUntilRelativeToNow() throws {
        let log = scratch.file("recent.jsonl")
        let now = Date()
        let clock = TestClock(now)
        let writer = try AuditWriter(path: log, hash: chainHash, now: { clock.now })
        for (ago, session) in [(3 * 3600.0, 1), (90 * 60.0, 2), (10 * 60.0, 3), (30.0, 4)] {
            clock.set(now.addingTimeInterval(-ago))
            try writer.append(event: AuditEvent.sessionStart, session: UInt64(session), fields: ["client": "127.0.0.1"])
        }
        func sessions(_ arguments: [String]) throws -> [UInt64] {
            let result = try audit(["--json"] + arguments + [log])
            #expect(result.status == 0, "\(result.stderr)")
            return try result.stdout.split(separator: "\n").map { try AuditRecord(line: Array($0.utf8)).session ?? 0 }
        }
        #expect(try sessions(["--since", "1h"]) == [3, 4])
        #expect(try sessions(["--since", "2h", "--until", "15m"]) == [2])
        #expect(try sessions(["--since", "1d", "--until", "5m"]) == [1, 2, 3])
        #expect(try sessions(["--since", "120m"]) == [2, 3, 4])
        #expect(try sessions(["--since", "90s"]) == [4])
    }

    @Test func jsonLinesAreTheLogsBytes() throws {
        let all = try audit(["--json", day.log])
        #expect(all.status == 0)
        #expect(all.stdout == (try String(contentsOfFile: day.log, encoding: .utf8)))
        let lines = try fileLines(day.log)
        let denied = try audit(["--json", "--decision", "deny", day.log])
        #expect(denied.stdout == lines.filter { $0.contains("\"decision\":\"deny\"") }.map { $0 + "\n" }.joined())
    }

    @Test func tableIsAlignedAndKeepsReasonsWhole() throws {
        let result = try audit(["--session", "1", day.log])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").map(String.init)
        #expect(rows.count == 1 + day.seqs { $0.session == 1 }.count)
        #expect(rows[0].hasPrefix("TIME (UTC)           SESSION  EVENT            KEY           DECISION  KIND"))
        let eventColumn = rows[0].range(of: "EVENT")!.lowerBound.utf16Offset(in: rows[0])
        for row in rows.dropFirst() {
            #expect(row.hasPrefix("2026-11-25 10:01:"), "\(row)")
            #expect(row.count > eventColumn && Array(row)[eventColumn - 1] == " " && Array(row)[eventColumn] != " ", "\(row)")
        }
        let refused = rows.first { $0.contains("10.0.0.2:80") }!
        #expect(refused.contains("      1  forward-request  alex-laptop   deny      tcp-open"), "\(refused)")
        #expect(refused.hasSuffix("10.0.0.2:80  channel 5, from 127.0.0.1:40000: no permit_open rule of key alex-laptop matches 10.0.0.2:80"),
                "\(refused)")
        let start = rows.first { $0.contains("session-start") }!
        #expect(start.hasSuffix("client 127.0.0.1:50312, server 127.0.0.1:2222"), "\(start)")
        let close = rows.first { $0.contains("channel-close") }!
        #expect(close.hasSuffix("127.0.0.1:5900  channel 2, 1048576 bytes from client, 2048 bytes to client, 1.503 s: closed by client"),
                "\(close)")
        let allowed = rows.first { $0.contains("streamlocal-listen") && $0.contains("allow") }!
        #expect(allowed.contains("rule /etc/portcullis/keys.d/alex-laptop.yaml:4, pattern /srv/portcullis/%k/*.sock"), "\(allowed)")
        let unknown = try audit(["--session", "3", "--event", "auth", day.log]).stdout
        #expect(unknown.contains("auth             (unknown)     deny"), "\(unknown)")
        #expect(unknown.contains("user root, \(Fingerprint.mallory1), ssh-rsa: unknown key"), "\(unknown)")
    }

    @Test func rotatedAndCompressedSiblingsAreReadOldestFirst() throws {
        let site = try Installation()
        let directory = site.scratch.file("log")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = directory + "/audit.jsonl"
        try site.setAuditLog(log)
        let writer = try AuditWriter(path: log, hash: chainHash)
        func session(_ id: UInt64) throws {
            try writer.append(event: AuditEvent.sessionStart, session: id, fields: ["client": "127.0.0.1"])
            try writer.append(event: AuditEvent.sessionEnd, session: id, fields: ["reason": "client disconnected"])
        }
        try session(1)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".2")
        try writer.reopen()
        #expect(try run("/bin/gzip", [log + ".2"]).status == 0)
        try session(2)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try writer.reopen()
        try session(3)
        #expect(try AuditReader.logFiles(of: log) == [log + ".2.gz", log + ".1", log])
        let all = try site.audit(["--json"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try seqs(all.stdout) == Array(1...6))
        let middle = try site.audit(["--json", "--session", "2"])
        #expect(try seqs(middle.stdout) == [3, 4])
        let verified = try site.audit(["verify"])
        #expect(verified.stdout == "audit log intact: 6 records, seq 1-6 across 3 files\n", "\(verified.stderr)")
    }

    @Test func missingLogsAndAuditingOffAreUsageErrors() throws {
        let site = try Installation()
        try site.setAuditLog(site.scratch.file("none.jsonl"))
        let none = try site.audit([])
        #expect(none.status == 2)
        #expect(none.stderr == "policyctl: no audit log at \(site.scratch.file("none.jsonl")) (nor rotated copies of it)\n")
        let config = try String(contentsOfFile: site.config, encoding: .utf8)
        try config.replacingOccurrences(of: "audit_log: \(site.scratch.file("none.jsonl"))", with: "audit_log: off")
            .write(toFile: site.config, atomically: true, encoding: .utf8)
        for command in [[], ["summary"], ["verify"], ["follow"]] {
            let off = try site.audit(command)
            #expect(off.status == 2, "\(command)")
            #expect(off.stderr.contains("auditing is off in \(site.config) (audit_log: off)"), "\(command): \(off.stderr)")
        }
        let misplaced = try site.policyctl(["audit", "summary"])
        #expect(misplaced.status == 2)
        #expect(misplaced.stderr.contains("summary: no such file; options go after the subcommand"), "\(misplaced.stderr)")
        let unreadable = try audit([scratch.file("missing.jsonl")])
        #expect(unreadable.status == 2)
        #expect(unreadable.stderr == "policyctl: cannot read \(scratch.file("missing.jsonl")): No such file or directory\n")
    }

    @Test func clientControlledTextCannotDriveTheTerminal() throws {
        let log = scratch.file("hostile.jsonl")
        let writer = try AuditWriter(path: log, hash: chainHash)
        try writer.append(event: AuditEvent.auth, session: 9, fields: ["user": "root\u{1b}]0;owned\u{07}", "fingerprint": "SHA256:x",
                                                                       "decision": "deny", "reason": "unknown key"])
        try writer.append(event: AuditEvent.forwardRequest, session: 9, fields: ["kind": "streamlocal-open", "decision": "deny",
                                                                                 "target": "/tmp/a\nb\u{202e}.sock", "reason": "no rule"])
        for command in [[], ["summary"]] {
            let result = try audit(command + [log])
            #expect(result.status == 0)
            #expect(!result.stdout.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 || $0.value == 0x202e }, "\(command)")
        }
        let rows = try audit([log]).stdout.split(separator: "\n")
        #expect(rows.count == 3)
        #expect(rows[1].contains("user root\\x1b]0;owned\\x07, SHA256:x: unknown key"), "\(rows[1])")
        #expect(rows[2].contains("/tmp/a\\x0ab\\u{202e}.sock  no rule"), "\(rows[2])")
    }

    @Test func aMalformedLineIsNamedAndTheRestStillShown() throws {
        var lines = try fileLines(day.log)
        lines[4] = "{\"ts\":\"2026-11-25T10:01:02.000000Z\",\"seq\":5,"
        let damaged = try scratch.write("damaged.jsonl", lines.joined(separator: "\n") + "\n")
        let result = try audit(["--json", damaged])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("policyctl: \(damaged):5: not JSON: "), "\(result.stderr)")
        #expect(try seqs(result.stdout) == day.records.map(\.seq).filter { $0 != 5 })
        let summary = try audit(["summary", "--json", damaged])
        #expect(summary.status == 1)
        #expect(summary.stderr.hasPrefix("policyctl: \(damaged):5: not JSON: "), "\(summary.stderr)")
        #expect(summary.stdout.contains("\"records_read\" : \(day.records.count - 1)"), "\(summary.stdout)")
    }
}
