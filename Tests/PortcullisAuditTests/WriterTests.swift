import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

@Suite struct WriterTests {
    @Test func freshLogStartsAtGenesisWithPrivateMode() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        let writer = try AuditWriter(path: path, hash: sha256sum)
        let first = try writer.append(event: "daemon_started", fields: ["version": "0.1"])
        let second = try writer.append(event: "session_opened", session: 1, fields: ["client": "192.0.2.1"])
        #expect(first.seq == 1 && first.prev == AuditChain.genesis && first.session == nil)
        let written = try lines(of: path)
        #expect(written.count == 2)
        #expect(second.seq == 2 && second.prev == sha256sum(Data(written[0].utf8)))
        #expect(try AuditRecord(line: Array(written[1].utf8)) == second)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func restartContinuesTheChain() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try writeSample(try AuditWriter(path: path, hash: sha256sum), count: 3)
        let restarted = try AuditWriter(path: path, hash: sha256sum)
        #expect(restarted.chainPoint.seq == 3)
        #expect(try restarted.append(event: "daemon_started").seq == 4)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [path]).exitCode == 0)
    }

    @Test func reopenAfterRotationContinuesTheChainAcrossFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        let writer = try writeRotatedLog(at: path, before: 3, after: 0)
        let next = try writer.append(event: "after_rotation", session: 1)
        #expect(next.seq == 5)
        #expect(next.prev == sha256sum(Data(try lines(of: path + ".1")[3].utf8)))
        let files = try AuditReader.logFiles(of: path)
        #expect(files == [path + ".1", path])
        let result = try AuditVerifier(hash: sha256sum).verify(files: files)
        #expect(result == .intact(first: AuditChainPoint(seq: 1, hash: sha256sum(Data(try lines(of: path + ".1")[0].utf8))),
                                  last: writer.chainPoint))
    }

    @Test func restartOnAnEmptyRotatedLogContinuesFromTheNewestSibling() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try writeSample(try AuditWriter(path: path, hash: sha256sum), count: 2)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        FileManager.default.createFile(atPath: path, contents: nil)
        let restarted = try AuditWriter(path: path, hash: sha256sum)
        #expect(try restarted.append(event: "daemon_started").seq == 3)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: AuditReader.logFiles(of: path)).exitCode == 0)
    }

    @Test func incompleteLastLineRefusesToStart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try Data(#"{"ts":"x","seq":1,"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: AuditError.unusableLastLine(path: path, reason: "no newline at the end")) {
            try AuditWriter(path: path, hash: sha256sum)
        }
    }

    @Test func reservedFieldNamesAreRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let writer = try AuditWriter(path: dir.file("audit.jsonl"), hash: sha256sum)
        #expect(throws: AuditError.reservedField("prev")) { try writer.append(event: "x", fields: ["prev": "0"]) }
        #expect(try writer.append(event: "x").seq == 1)
    }

    @Test func writeFailuresAreThrown() throws {
        let writer = try AuditWriter(path: "/dev/full", hash: sha256sum)
        #expect(throws: AuditError.system(call: "write", path: "/dev/full", errno: ENOSPC)) {
            try writer.append(event: "x")
        }
        #expect(writer.chainPoint == .start)
    }

    @Test func concurrentAppendsFormOneChain() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        let writer = try AuditWriter(path: path, hash: sha256sum)
        let perThread = 40
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<perThread {
                try! writer.append(event: "channel_opened", session: UInt64(thread),
                                   fields: ["channel": .int(Int64(index)), "pad": .string(String(repeating: "x", count: 500))])
            }
        }
        let written = try lines(of: path)
        #expect(written.count == 8 * perThread)
        #expect(try written.map { try AuditRecord(line: Array($0.utf8)).seq } == Array(1...UInt64(8 * perThread)))
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [path]).exitCode == 0)
    }
}
