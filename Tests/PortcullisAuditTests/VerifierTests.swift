import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

@Suite struct VerifierTests {
    /// The two files of a rotated log: `.1` holds records 1-4, the live file 5-8.
    struct RotatedLog {
        let old: String
        let live: String
    }

    /// Writes a rotated log, lets `tamper` change it, verifies it, and returns the outcome.
    func verifyRotatedLog(_ tamper: (RotatedLog) throws -> Void = { _ in },
                          files: ((RotatedLog) -> [String])? = nil) throws -> (RotatedLog, AuditVerification) {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let live = dir.file("audit.jsonl")
        try writeRotatedLog(at: live, before: 3, after: 4)
        let log = RotatedLog(old: live + ".1", live: live)
        try tamper(log)
        let list = try files?(log) ?? AuditReader.logFiles(of: live)
        return (log, try AuditVerifier(hash: sha256sum).verify(files: list))
    }

    func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Turns the first `1` of the line (a digit of its timestamp) into a `2`.
    func changeOneByte(of path: String, line: Int) throws {
        try rewrite(path) { bytes in
            bytes[bytes[offset(ofLine: line, in: bytes)...].firstIndex(of: UInt8(ascii: "1"))!] = UInt8(ascii: "2")
        }
    }

    /// The byte offset of the start of 1-based line `number`.
    func offset(ofLine number: Int, in bytes: [UInt8]) -> Int {
        var line = 1, index = 0
        while line < number {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }
        return index
    }

    @Test func intactAcrossFiles() throws {
        let (_, result) = try verifyRotatedLog()
        guard case .intact(let first, let last, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(first?.seq == 1 && last?.seq == 8 && recoveries.isEmpty)
        #expect(result.exitCode == 0)
    }

    @Test func oneChangedByteNamesTheChangedRecord() throws {
        let (log, result) = try verifyRotatedLog { log in try changeOneByte(of: log.old, line: 2) }
        #expect(result == .broken(AuditBreak(kind: .modified, file: log.old, line: 2,
                                             detail: "its hash does not match the prev of \(log.old):3")))
        #expect(result.exitCode == 1)
    }

    @Test func aChangeInTheLastRecordOfAFileIsCaughtByTheNextFile() throws {
        let (log, result) = try verifyRotatedLog { log in try changeOneByte(of: log.old, line: 4) }
        #expect(result == .broken(AuditBreak(kind: .modified, file: log.old, line: 4,
                                             detail: "its hash does not match the prev of \(log.live):1")))
    }

    @Test func aDeletedRecordIsAGap() throws {
        let (log, result) = try verifyRotatedLog { log in
            try rewrite(log.live) { bytes in bytes.removeSubrange(offset(ofLine: 2, in: bytes)..<offset(ofLine: 3, in: bytes)) }
        }
        #expect(result == .broken(AuditBreak(kind: .deleted, file: log.live, line: 2, detail: "seq 6 missing before seq 7")))
    }

    @Test func aRepeatedFileGoesBackInSeq() throws {
        let (log, result) = try verifyRotatedLog(files: { [$0.old, $0.old, $0.live] })
        guard case .broken(let found) = result else { Issue.record("\(result)"); return }
        #expect(found.description == "\(log.old):1: modified: seq 1 follows seq 4")
    }

    @Test func truncationMidRecord() throws {
        let (log, result) = try verifyRotatedLog { log in try rewrite(log.live) { bytes in bytes.removeLast(30) } }
        #expect(result == .broken(AuditBreak(kind: .truncated, file: log.live, line: 4, detail: "incomplete last line (no newline)")))
    }

    @Test func aGarbledLineIsModified() throws {
        let (log, result) = try verifyRotatedLog { log in
            try rewrite(log.live) { bytes in bytes[offset(ofLine: 3, in: bytes)] = UInt8(ascii: "[") }
        }
        guard case .broken(let found) = result else { Issue.record("\(result)"); return }
        #expect(found.kind == .modified && found.file == log.live && found.line == 3)
    }

    @Test func emptyLogIsIntact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        FileManager.default.createFile(atPath: dir.file("audit.jsonl"), contents: nil)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [dir.file("audit.jsonl")]) == .intact(first: nil, last: nil))
    }
}
