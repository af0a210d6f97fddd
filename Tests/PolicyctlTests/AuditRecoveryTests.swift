import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// `policyctl audit verify` on a log the daemon recovered after a crash (issue 11, item 5): the
/// recovery is reported with exit status 0; any other change is still named with status 1.
@Suite struct AuditRecoveryTests {
    let scratch: TemporaryDirectory
    let day: AuditScenario
    /// The scenario's records, the torn one moved aside, audit-recovered, and one record after it.
    let recovered: (recovery: AuditRecovery, record: AuditRecord)
    let torn = Array(#"{"ts":"2026-11-25T10:20:00.000000Z","seq":33,"event":"session-start","sess"#.utf8)

    init() throws {
        scratch = try TemporaryDirectory()
        day = try AuditScenario(log: scratch.file("audit.jsonl"))
        let handle = try #require(FileHandle(forWritingAtPath: day.log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(torn))
        try handle.close()
        let writer = try AuditWriter(path: day.log, hash: chainHash, now: { at(30) }, recoverTornLine: true)
        recovered = try #require(writer.recovered)
        try writer.append(event: AuditEvent.daemonStart, fields: ["version": "0.1.0"])
    }

    var recoveryLine: String {
        let recovery = recovered.recovery
        return "\(day.log):\(recovered.record.seq): recovery (seq \(recovered.record.seq), 2026-11-25T10:30:00.000000Z): "
            + "torn last line of \(day.log) moved aside: \(torn.count) bytes from offset \(recovery.offset), "
            + "sha256 \(SHA256hex(torn)), kept in \(recovery.sideFile!) (incomplete last line (no newline at the end))"
    }

    func SHA256hex(_ bytes: [UInt8]) -> String { chainHash(Data(bytes)) }

    @Test func aRecoveryIsReportedAndTheLogIsIntact() throws {
        let count = day.records.count + 2
        let result = try audit(["verify", day.log])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            audit log intact: \(count) records, seq 1-\(count) across 1 file; 1 crash recovery (not tampering)
            \(recoveryLine)

            """)
        #expect(recovered.record.seq == UInt64(day.records.count + 1))
    }

    @Test func theConfiguredLogIsVerifiedWithoutReadingTheSideFileAsALog() throws {
        let site = try Installation()
        try site.setAuditLog(day.log)
        let result = try site.audit(["verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("audit log intact: \(day.records.count + 2) records, seq 1-\(day.records.count + 2) across 1 file; 1 crash recovery"))
    }

    @Test func aHandEditedRecordIsStillTampering() throws {
        var lines = try fileLines(day.log)
        lines[9] = lines[9].replacingOccurrences(of: "\"target\":\"127.0.0.1:5900\"", with: "\"target\":\"127.0.0.1:5901\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: day.log, atomically: false, encoding: .utf8)
        let result = try audit(["verify", day.log])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(day.log):10: modified: its hash does not match the prev of \(day.log):11\n")
    }

    @Test func aRemovedRecordBeforeTheRecoveryIsStillNamed() throws {
        var lines = try fileLines(day.log)
        let last = day.records.count - 1
        lines.remove(at: last)
        try (lines.joined(separator: "\n") + "\n").write(toFile: day.log, atomically: false, encoding: .utf8)
        let result = try audit(["verify", day.log])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(day.log):\(last + 1): deleted: seq \(last + 1) missing before seq \(last + 2)\n")
    }

    @Test func aForgedRecoveryThatDoesNotChainIsTampering() throws {
        // A recovery record of someone's own making in place of the last scenario record.
        var lines = try fileLines(day.log)
        let index = day.records.count - 1
        let forged = AuditRecord(ts: "2026-11-25T10:19:00.000000Z", seq: UInt64(index + 1), event: AuditEvent.auditRecovered, session: nil,
                                 fields: recovered.recovery.fields, prev: String(repeating: "0", count: 64))
        lines[index] = String(decoding: forged.line, as: UTF8.self)
        try (lines.joined(separator: "\n") + "\n").write(toFile: day.log, atomically: false, encoding: .utf8)
        let result = try audit(["verify", day.log])
        #expect(result.status == 1)
        #expect(result.stdout == "audit log BROKEN at \(day.log):\(index): modified: its hash does not match the prev of \(day.log):\(index + 1)\n")
    }

    @Test func aChangedSideFileIsTampering() throws {
        let side = try #require(recovered.recovery.sideFile)
        try Data(torn.dropLast()).write(to: URL(fileURLWithPath: side))
        let result = try audit(["verify", day.log])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("audit log BROKEN at \(day.log):\(recovered.record.seq): modified: the side file \(side) does not hold"),
                "\(result.stdout)")
    }

    @Test func showFindsTheRecovery() throws {
        let result = try audit(["--json", "--event", "audit-recovered", day.log])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try seqs(result.stdout) == [recovered.record.seq])
    }
}
