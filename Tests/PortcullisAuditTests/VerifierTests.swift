import Foundation
import PortcullisAudit
import Testing

@Suite struct VerifierTests {
    /// Two files (`.1` with records 1-4, the live one with 5-8) and the verifier.
    func rotatedLog(_ dir: TemporaryDirectory) throws -> (old: String, live: String) {
        let live = dir.file("audit.jsonl")
        let writer = try AuditWriter(path: live, hash: sha256sum)
        try writeSample(writer, count: 4)
        try FileManager.default.moveItem(atPath: live, toPath: live + ".1")
        try writer.reopen()
        try writeSample(writer, count: 4, session: 2)
        return (live + ".1", live)
    }

    func verify(_ dir: TemporaryDirectory) throws -> AuditVerification {
        try AuditVerifier(hash: sha256sum).verify(files: AuditReader.logFiles(of: dir.file("audit.jsonl")))
    }

    func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The byte offset of the start of 1-based line `number`.
    func offset(ofLine number: Int, in bytes: [UInt8]) -> Int {
        var line = 1, index = 0
        while line < number { if bytes[index] == UInt8(ascii: "\n") { line += 1 }; index += 1 }
        return index
    }

    @Test func intactAcrossFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        _ = try rotatedLog(dir)
        guard case .intact(let first, let last) = try verify(dir) else { Issue.record("not intact"); return }
        #expect(first?.seq == 1 && last?.seq == 8)
    }

    @Test func oneChangedByteNamesTheChangedRecord() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (old, _) = try rotatedLog(dir)
        try rewrite(old) { bytes in
            let start = offset(ofLine: 2, in: bytes)
            let at = bytes[start...].firstIndex(of: UInt8(ascii: "1"))!  // a digit of the ts
            bytes[at] = UInt8(ascii: "2")
        }
        let result = try verify(dir)
        guard case .broken(let found) = result else { Issue.record("\(result)"); return }
        #expect(found.kind == .modified && found.file == old && found.line == 2)
        #expect(result.exitCode == 1)
    }

    @Test func aChangeInTheLastRecordOfAFileIsCaughtByTheNextFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (old, _) = try rotatedLog(dir)
        try rewrite(old) { bytes in
            let at = offset(ofLine: 4, in: bytes) + 40
            bytes[at] = bytes[at] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
        }
        guard case .broken(let found) = try verify(dir) else { Issue.record("intact"); return }
        #expect(found.kind == .modified && found.file == old && found.line == 4)
    }

    @Test func aDeletedRecordIsAGap() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (_, live) = try rotatedLog(dir)
        try rewrite(live) { bytes in
            bytes.removeSubrange(offset(ofLine: 2, in: bytes)..<offset(ofLine: 3, in: bytes))
        }
        guard case .broken(let found) = try verify(dir) else { Issue.record("intact"); return }
        #expect(found == AuditBreak(kind: .deleted, file: live, line: 2, detail: "seq 6 missing before seq 7"))
    }

    @Test func aRepeatedFileGoesBackInSeq() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (old, live) = try rotatedLog(dir)
        let result = try AuditVerifier(hash: sha256sum).verify(files: [old, old, live])
        guard case .broken(let found) = result else { Issue.record("intact"); return }
        #expect(found.kind == .modified && found.file == old && found.line == 1)
        #expect(found.description == "\(old):1: modified: seq 1 follows seq 4")
    }

    @Test func truncationMidRecord() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (_, live) = try rotatedLog(dir)
        try rewrite(live) { bytes in bytes.removeLast(30) }
        guard case .broken(let found) = try verify(dir) else { Issue.record("intact"); return }
        #expect(found.kind == .truncated && found.file == live && found.line == 4)
    }

    @Test func aGarbledLineIsModified() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        let (_, live) = try rotatedLog(dir)
        try rewrite(live) { bytes in bytes[offset(ofLine: 3, in: bytes)] = UInt8(ascii: "[") }
        guard case .broken(let found) = try verify(dir) else { Issue.record("intact"); return }
        #expect(found.kind == .modified && found.file == live && found.line == 3)
    }

    @Test func emptyLogIsIntact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanUp() }
        FileManager.default.createFile(atPath: dir.file("audit.jsonl"), contents: nil)
        #expect(try verify(dir) == .intact(first: nil, last: nil))
    }
}
