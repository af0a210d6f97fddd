import Foundation
@testable import PortcullisAudit
import Testing
import PortcullisTestSupport

/// Start-up recovery of a log a crash left with a torn last line (issue 11, item 5).
@Suite struct RecoveryTests {
    let dir: TemporaryDirectory
    let log: String

    init() throws {
        dir = try TemporaryDirectory()
        log = dir.file("audit.jsonl")
    }

    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func append(_ text: some Collection<UInt8>, to path: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text))
        try handle.close()
    }

    /// The side files next to the log, by name.
    func sideFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".torn-") }.sorted()
    }

    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    /// A record line that would follow the log's last one, as the writer would have written it.
    func nextLine(after writer: AuditWriter) -> [UInt8] {
        AuditRecord(ts: "2026-12-01T17:00:00.000000Z", seq: writer.chainPoint.seq + 1, event: "channel_opened", session: 1,
                    fields: [JSONMember("channel", .int(9))], prev: writer.chainPoint.hash).line
    }

    @Test func aTornLastLineIsMovedAsideAndTheChainContinues() throws {
        defer { dir.remove() }
        let before = try AuditWriter(path: log, hash: sha256sum)
        try writeSample(before, count: 3)
        let good = try bytes(log)
        let torn = Array(nextLine(after: before).prefix(40))
        try append(torn, to: log)

        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(writer.recovered)
        let side = try #require(recovery.sideFile)
        #expect(recovery.action == .movedAside && recovery.file == log)
        #expect(recovery.offset == UInt64(good.count) && recovery.byteCount == UInt64(torn.count))
        #expect(recovery.sha256 == sha256sum(Data(torn)))
        #expect(recovery.reason == "incomplete last line (no newline at the end)")
        #expect(try sideFiles() == [URL(fileURLWithPath: side).lastPathComponent])
        #expect(URL(fileURLWithPath: side).lastPathComponent.hasPrefix("audit.jsonl.torn-"))
        #expect(try bytes(side) == torn)
        #expect(try mode(side) == mode(log))

        // The log: the good records, then audit-recovered continuing their chain, then on.
        #expect(record.event == AuditEvent.auditRecovered && record.seq == 4)
        #expect(record.prev == sha256sum(Data(try lines(of: log)[2].utf8)))
        #expect(try bytes(log) == good + record.line + [UInt8(ascii: "\n")])
        #expect(try AuditRecovery(record: AuditRecord(line: record.line)) == recovery)
        #expect(try writer.append(event: "daemon_started").seq == 5)

        let result = try AuditVerifier(hash: sha256sum).verify(files: [log])
        guard case .intact(_, let last, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(last?.seq == 5 && result.exitCode == 0)
        #expect(recoveries == [AuditRecoveryNote(file: log, line: 4, seq: 4, ts: record.ts, recovery: recovery, sideFileFound: side)])
        #expect(recoveries[0].description.contains("torn last line of \(log) moved aside: \(torn.count) bytes from offset \(good.count)"))
    }

    @Test func aWholeRecordMissingOnlyItsNewlineIsKept() throws {
        defer { dir.remove() }
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 3)
        var content = try bytes(log)
        content.removeLast()
        try Data(content).write(to: URL(fileURLWithPath: log))

        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(writer.recovered)
        #expect(recovery.action == .completed && recovery.sideFile == nil)
        #expect(try sideFiles().isEmpty)
        let now = try lines(of: log)
        #expect(now.count == 4)
        #expect(Array(now[2].utf8) == Array(content[Int(recovery.offset)...]))
        #expect(record.seq == 4 && record.prev == sha256sum(Data(now[2].utf8)))
        let result = try AuditVerifier(hash: sha256sum).verify(files: [log])
        guard case .intact(_, _, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(recoveries.map(\.recovery.action) == [.completed])
    }

    @Test func aWholeRecordThatDoesNotChainIsMovedAside() throws {
        defer { dir.remove() }
        let before = try AuditWriter(path: log, hash: sha256sum)
        try writeSample(before, count: 3)
        let stray = AuditRecord(ts: "2026-12-01T17:00:00.000000Z", seq: 4, event: "x", session: nil, fields: [],
                                prev: AuditChain.genesis).line
        try append(stray, to: log)
        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(writer.recovered)
        #expect(recovery.action == .movedAside)
        #expect(recovery.reason.hasPrefix("last line has no newline and does not follow the record before it"))
        #expect(try bytes(try #require(recovery.sideFile)) == stray)
        #expect(record.seq == 4 && record.prev == before.chainPoint.hash)
    }

    @Test func aLastLineThatIsNotARecordIsMovedAside() throws {
        defer { dir.remove() }
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 2)
        let size = try bytes(log).count
        try append(Array("\u{0}\u{0}garbage\n".utf8), to: log)
        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(writer.recovered)
        #expect(recovery.action == .movedAside && recovery.offset == UInt64(size))
        #expect(recovery.reason.hasPrefix("last line is not a record"))
        #expect(try bytes(try #require(recovery.sideFile)) == Array("\u{0}\u{0}garbage\n".utf8))
        #expect(record.seq == 3)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [log]).exitCode == 0)
    }

    @Test func aLogWhoseOnlyLineIsTornStartsAfresh() throws {
        defer { dir.remove() }
        try Data(#"{"ts":"2026-12-01T17:00:00.000000Z","seq":1,"ev"#.utf8).write(to: URL(fileURLWithPath: log))
        let writer = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(writer.recovered)
        #expect(recovery.offset == 0 && record.seq == 1 && record.prev == AuditChain.genesis)
        #expect(try lines(of: log).count == 1)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [log]).exitCode == 0)
    }

    @Test func aTornOnlyLineAfterRotationContinuesFromTheRotatedFile() throws {
        defer { dir.remove() }
        let writer = try writeRotatedLog(at: log, before: 3, after: 0)
        let torn = Array(nextLine(after: writer).prefix(25))
        writer.close()
        try append(torn, to: log)
        let restarted = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (_, record) = try #require(restarted.recovered)
        #expect(record.seq == 5 && record.prev == writer.chainPoint.hash)
        #expect(try restarted.append(event: "daemon_started").seq == 6)
        let result = try AuditVerifier(hash: sha256sum).verify(files: AuditReader.logFiles(of: log))
        guard case .intact(_, let last, let recoveries) = result else { Issue.record("\(result)"); return }
        #expect(last?.seq == 6 && recoveries.count == 1)
    }

    @Test func aTornRotatedFileBehindAnEmptyLogIsRecoveredInPlace() throws {
        defer { dir.remove() }
        // logrotate renamed the log and created an empty one; the daemon died writing to the old one.
        let writer = try AuditWriter(path: log, hash: sha256sum)
        try writeSample(writer, count: 3)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        let torn = Array(nextLine(after: writer).prefix(30))
        try append(torn, to: log + ".1")
        _ = FileManager.default.createFile(atPath: log, contents: nil, attributes: [.posixPermissions: 0o600])
        #expect(throws: AuditError.self) { try AuditWriter(path: log, hash: sha256sum) }

        let restarted = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(restarted.recovered)
        #expect(recovery.file == log + ".1" && record.seq == 4)
        #expect(try bytes(try #require(recovery.sideFile)) == torn)
        #expect(recovery.sideFile!.hasPrefix(log + ".1.torn-"))
        #expect(try restarted.append(event: "daemon_started").seq == 5)
        #expect(try lines(of: log).count == 1)
        #expect(try AuditReader.logFiles(of: log) == [log + ".1", log])
        #expect(try AuditVerifier(hash: sha256sum).verify(files: AuditReader.logFiles(of: log)).exitCode == 0)
    }

    @Test func aFullDiskWhileSavingTheTornLineChangesNothing() throws {
        defer { dir.remove() }
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 2)
        try append(Array(#"{"ts":"2026-12"#.utf8), to: log)
        let original = try bytes(log)
        var sidePath = ""
        #expect(throws: AuditError.sideFileFailed(log: log, sideFile: log + ".torn-20261201T170000.000000Z", call: "write", errno: ENOSPC)) {
            try AuditRecovery.recover(log: log, hash: sha256sum, now: { Date(timeIntervalSince1970: 1_796_144_400) }) { (fd: Int32, bytes: [UInt8], path: String) throws(AuditError) in
                sidePath = path
                // Half of it reaches the disk, then it is full.
                _ = bytes.prefix(bytes.count / 2).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                throw .system(call: "write", path: path, errno: ENOSPC)
            }
        }
        #expect(sidePath == log + ".torn-20261201T170000.000000Z")
        #expect(try bytes(log) == original)
        #expect(try sideFiles().isEmpty)
        let message = AuditError.sideFileFailed(log: log, sideFile: sidePath, call: "write", errno: ENOSPC).description
        #expect(message.contains("No space left on device") && message.contains("the log was left as it was"))
    }

    @Test func aSideFileIsNeverOverwritten() throws {
        defer { dir.remove() }
        let clock: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_796_144_400) }
        let taken = log + ".torn-20261201T170000.000000Z"
        try Data("earlier".utf8).write(to: URL(fileURLWithPath: taken))
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 1)
        try append(Array("{".utf8), to: log)
        let writer = try AuditWriter(path: log, hash: sha256sum, now: clock, recoverTornLine: true)
        #expect(writer.recovered?.recovery.sideFile == taken + ".1")
        #expect(try bytes(taken) == Array("earlier".utf8))
        #expect(try bytes(taken + ".1") == Array("{".utf8))
    }

    @Test func moreThanTheLastLineDamagedIsRefusedUntouched() throws {
        defer { dir.remove() }
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 2)
        try append(Array("garbage\n{\"ts".utf8), to: log)
        let original = try bytes(log)
        #expect(throws: AuditError.self) { try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true) }
        do {
            _ = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        } catch {
            #expect(error.description.contains("the line before it is not a record either"), "\(error)")
        }
        #expect(try bytes(log) == original)
        #expect(try sideFiles().isEmpty)
    }

    @Test func anIntactLogNeedsNoRecovery() throws {
        defer { dir.remove() }
        #expect(try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true).recovered == nil)
        try writeSample(try AuditWriter(path: log, hash: sha256sum), count: 3)
        let original = try bytes(log)
        #expect(try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true).recovered == nil)
        #expect(try bytes(log) == original)
        #expect(try AuditWriter(path: "/dev/null", hash: sha256sum, recoverTornLine: true).recovered == nil)
    }

    @Test func theFirstRecordOfAFileNeedNotFollowTheRotatedOne() throws {
        defer { dir.remove() }
        // copytruncate can lose the records between its copy and its truncate: the live file's
        // first record then does not follow the last of `.1`. That is for verify to name, not
        // for recovery to move.
        let writer = try AuditWriter(path: log, hash: sha256sum)
        try writeSample(writer, count: 3)
        try FileManager.default.copyItem(atPath: log, toPath: log + ".1")
        try writeSample(writer, count: 2)
        try Data().write(to: URL(fileURLWithPath: log))
        try writeSample(writer, count: 1)
        let original = try bytes(log)
        let restarted = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        #expect(restarted.recovered == nil && restarted.chainPoint.seq == 6)
        #expect(try bytes(log) == original)
    }

    @Test func longLinesAcrossReadChunksAreFoundWhole() throws {
        defer { dir.remove() }
        // Lines longer than the 64 KiB the tail is read in: a long torn line after long records.
        let writer = try AuditWriter(path: log, hash: sha256sum)
        for index in 0..<3 {
            try writer.append(event: "x", fields: ["pad": .string(String(repeating: Character(UnicodeScalar(97 + index)!), count: 150_000))])
        }
        let good = try bytes(log)
        let torn = Array(nextLine(after: writer).prefix(20)) + [UInt8](repeating: UInt8(ascii: "z"), count: 100_000)
        try append(torn, to: log)
        let restarted = try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true)
        let (recovery, record) = try #require(restarted.recovered)
        #expect(recovery.offset == UInt64(good.count) && record.seq == 4 && record.prev == writer.chainPoint.hash)
        #expect(try bytes(try #require(recovery.sideFile)) == torn)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [log]).exitCode == 0)
        // A long last record that follows the one before it stays.
        try restarted.append(event: "x", fields: ["pad": .string(String(repeating: "d", count: 150_000))])
        restarted.close()
        #expect(try AuditWriter(path: log, hash: sha256sum, recoverTornLine: true).recovered == nil)
    }
}
