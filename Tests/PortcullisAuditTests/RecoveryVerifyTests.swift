import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// `AuditVerifier` on a log with a crash recovery: the recovery is listed, not a break; every
/// other change is still a break.
@Suite struct RecoveryVerifyTests {
    let dir: TemporaryDirectory
    let log: String
    /// The audit-recovered record (seq 4, line 4), after three records; two more follow it.
    let recovered: (recovery: AuditRecovery, record: AuditRecord)

    init() throws {
        dir = try TemporaryDirectory()
        log = dir.file("audit.jsonl")
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 3)
        try Self.append(Array(#"{"ts":"2026-12-01T17:00:00.0"#.utf8), to: log)
        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        recovered = try #require(writer.recovered)
        try writeSample(writer, count: 2, session: 2)
    }

    static func append(_ bytes: [UInt8], to path: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    func verify() throws -> AuditVerification { try AuditVerifier(hash: sha256sum).verify(files: [log]) }

    /// Rewrites the log's lines (without newlines) through `change`.
    func edit(_ change: (inout [String]) -> Void) throws {
        var all = try lines(of: log)
        change(&all)
        try Data((all.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: log))
    }

    @Test func theRecoveryIsListedAndTheLogIsIntact() throws {
        defer { dir.remove() }
        let result = try verify()
        guard case .intact(let first, let last, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(first?.seq == 1 && last?.seq == 6 && result.exitCode == 0)
        #expect(recoveries.map(\.line) == [4] && recoveries.map(\.sideFileFound) == [recovered.recovery.sideFile])
    }

    @Test func aChangedRecordBeforeTheRecoveryIsStillABreak() throws {
        defer { dir.remove() }
        try edit { $0[1] = $0[1].replacingOccurrences(of: "\"bytes_in\":10", with: "\"bytes_in\":11") }
        #expect(try verify() == .broken(AuditBreak(kind: .modified, file: log, line: 2,
                                                   detail: "its hash does not match the prev of \(log):3")))
    }

    @Test func theLastRecordBeforeTheRecoveryIsChained() throws {
        defer { dir.remove() }
        try edit { $0[2] = $0[2].replacingOccurrences(of: "\"bytes_in\":10", with: "\"bytes_in\":11") }
        #expect(try verify() == .broken(AuditBreak(kind: .modified, file: log, line: 3,
                                                   detail: "its hash does not match the prev of \(log):4")))
    }

    @Test func aRemovedRecordIsStillABreak() throws {
        defer { dir.remove() }
        try edit { $0.remove(at: 2) }
        #expect(try verify() == .broken(AuditBreak(kind: .deleted, file: log, line: 3, detail: "seq 3 missing before seq 4")))
    }

    @Test func aChangedRecoveryRecordIsABreak() throws {
        defer { dir.remove() }
        try edit { $0[3] = $0[3].replacingOccurrences(of: "\"bytes\":\(recovered.recovery.byteCount)", with: "\"bytes\":1") }
        guard case .broken(let found) = try verify() else { Issue.record("not broken"); return }
        #expect(found.kind == .modified && found.line == 4, "\(found)")
    }

    @Test func aForgedRecoveryThatDoesNotChainIsABreak() throws {
        defer { dir.remove() }
        // Someone replaces record 5 with a recovery of their own making.
        let forged = AuditRecord(ts: "2026-12-01T18:00:00.000000Z", seq: 5, event: AuditEvent.auditRecovered, session: nil,
                                 fields: recovered.recovery.fields, prev: String(repeating: "1", count: 64))
        try edit { $0[4] = String(decoding: forged.line, as: UTF8.self) }
        #expect(try verify() == .broken(AuditBreak(kind: .modified, file: log, line: 4,
                                                   detail: "its hash does not match the prev of \(log):5")))
    }

    @Test func aRecoveryRecordWithoutItsFieldsIsABreak() throws {
        defer { dir.remove() }
        try edit { $0[5] = $0[5].replacingOccurrences(of: "\"event\":\"channel_closed\"", with: "\"event\":\"audit-recovered\"") }
        #expect(try verify() == .broken(AuditBreak(kind: .modified, file: log, line: 6,
                                                   detail: "audit-recovered record with no valid \"action\"")))
    }

    @Test func aChangedSideFileIsABreak() throws {
        defer { dir.remove() }
        let side = try #require(recovered.recovery.sideFile)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: side))
        guard case .broken(let found) = try verify() else { Issue.record("not broken"); return }
        #expect(found.kind == .modified && found.line == 4)
        #expect(found.detail.hasPrefix("the side file \(side) does not hold the"), "\(found)")
    }

    @Test func aMissingSideFileIsSaid() throws {
        defer { dir.remove() }
        let side = try #require(recovered.recovery.sideFile)
        try FileManager.default.removeItem(atPath: side)
        let result = try verify()
        guard case .intact(_, _, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(recoveries.count == 1 && recoveries[0].sideFileFound == nil)
        #expect(recoveries[0].description.contains("side file \(side) not found"))
    }

    @Test func aCopiedLogFindsItsSideFileNextToIt() throws {
        defer { dir.remove() }
        let elsewhere = try TemporaryDirectory()
        defer { elsewhere.remove() }
        let side = try #require(recovered.recovery.sideFile)
        let copy = elsewhere.file("audit.jsonl")
        let sideCopy = elsewhere.file(URL(fileURLWithPath: side).lastPathComponent)
        try FileManager.default.copyItem(atPath: log, toPath: copy)
        try FileManager.default.moveItem(atPath: side, toPath: sideCopy)
        let result = try AuditVerifier(hash: sha256sum).verify(files: [copy])
        guard case .intact(_, _, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(recoveries.map(\.sideFileFound) == [sideCopy])
    }

    @Test func aTornLineInTheMiddleIsABreak() throws {
        defer { dir.remove() }
        // A partial record followed by more records: no crash of the writer leaves that.
        try edit { $0.insert(#"{"ts":"2026-12-01T17:00:00.0"#, at: 4) }
        guard case .broken(let found) = try verify() else { Issue.record("not broken"); return }
        #expect(found.kind == .modified && found.line == 5 && found.detail.hasPrefix("not a record"), "\(found)")
    }

    @Test func aTornLastLineNotYetRecoveredIsStillTruncation() throws {
        defer { dir.remove() }
        try Self.append(Array(#"{"ts":"#.utf8), to: log)
        #expect(try verify() == .broken(AuditBreak(kind: .truncated, file: log, line: 7, detail: "incomplete last line (no newline)")))
    }
}
