import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// `policyctl audit verify`: an intact chain, and each way of breaking it named at FILE:LINE.
@Suite struct AuditVerifyTests {
    let scratch: TemporaryDirectory
    let day: AuditScenario

    init() throws {
        scratch = try TemporaryDirectory()
        day = try AuditScenario(log: scratch.file("audit.jsonl"))
    }

    /// Writes `lines` (and a final newline unless `unterminated`) as FILE in the scratch directory.
    func write(_ name: String, _ lines: [String], unterminated: Bool = false) throws -> String {
        try scratch.write(name, lines.joined(separator: "\n") + (unterminated ? "" : "\n"))
    }

    @Test func intact() throws {
        let result = try audit(["verify", day.log])
        #expect(result.status == 0)
        #expect(result.stdout == "audit log intact: \(day.records.count) records, seq 1-\(day.records.count) across 1 file\n")
    }

    @Test func oneByteChangedInTheMiddleIsNamed() throws {
        var lines = try fileLines(day.log)
        // Record 10 let 127.0.0.1:5900 be opened; make it 5901, one byte.
        let original = lines[9]
        lines[9] = original.replacingOccurrences(of: "\"target\":\"127.0.0.1:5900\"", with: "\"target\":\"127.0.0.1:5901\"")
        #expect(lines[9].utf8.count == original.utf8.count && lines[9] != original)
        let tampered = try write("tampered.jsonl", lines)
        let result = try audit(["verify", tampered])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(tampered):10: modified: its hash does not match the prev of \(tampered):11\n")
    }

    @Test func aDeletedRecordIsNamed() throws {
        var lines = try fileLines(day.log)
        lines.remove(at: 9)
        let gap = try write("gap.jsonl", lines)
        let result = try audit(["verify", gap])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(gap):10: deleted: seq 10 missing before seq 11\n")
    }

    @Test func aRecordCutShortIsNamed() throws {
        var lines = try fileLines(day.log)
        lines[lines.count - 1] = String(lines[lines.count - 1].prefix(40))
        let cut = try write("cut.jsonl", lines, unterminated: true)
        let result = try audit(["verify", cut])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(cut):\(lines.count): truncated: incomplete last line (no newline)\n")
    }

    @Test func aChangeAtTheEndOfARotatedFileIsNamedInThatFile() throws {
        let lines = try fileLines(day.log)
        var older = Array(lines[..<20])
        older[19] = older[19].replacingOccurrences(of: "\"seq\":20,", with: "\"seq\":20,\"x\":1,")
        let first = try write("audit.jsonl.1", older)
        let second = try write("audit.jsonl.0", Array(lines[20...]))
        let result = try audit(["verify", first, second])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(first):20: modified: its hash does not match the prev of \(second):1\n")
        let whole = try audit(["verify", try write("a", Array(lines[..<20])), try write("b", Array(lines[20...]))])
        #expect(whole.stdout == "audit log intact: \(lines.count) records, seq 1-\(lines.count) across 2 files\n")
    }

    @Test func aLineThatIsNotARecordBreaksTheChain() throws {
        var lines = try fileLines(day.log)
        lines.insert("hello", at: 5)
        let bad = try write("bad.jsonl", lines)
        let result = try audit(["verify", bad])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("audit log BROKEN at \(bad):6: modified: not a record: "), "\(result.stdout)")
    }

    @Test func unreadableOrNoFilesAreUsageErrors() throws {
        let missing = try audit(["verify", scratch.file("nope.jsonl")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "policyctl: cannot read \(scratch.file("nope.jsonl")): No such file or directory\n")
        let directory = try audit(["verify", scratch.path])
        #expect(directory.status == 2)
        #expect(directory.stderr.contains("not a regular file"))
        let site = try Installation()
        try site.setAuditLog(site.scratch.file("log/audit.jsonl"))
        let none = try site.audit(["verify"])
        #expect(none.status == 2)
        #expect(none.stderr.contains("cannot list the audit log's directory"), "\(none.stderr)")
    }
}
