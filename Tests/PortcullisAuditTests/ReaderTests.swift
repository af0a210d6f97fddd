import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

@Suite struct ReaderTests {
    @Test func logFilesAreOrderedOldestFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for name in ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2.gz", "audit.jsonl.10.gz", "audit.jsonl.3.gz",
                     "audit.jsonl.old", "audit.jsonl.1.tmp", "other.jsonl.1", "audit.jsonlx"] {
            FileManager.default.createFile(atPath: dir.file(name), contents: nil)
        }
        #expect(try AuditReader.logFiles(of: dir.file("audit.jsonl"))
            == ["audit.jsonl.10.gz", "audit.jsonl.3.gz", "audit.jsonl.2.gz", "audit.jsonl.1", "audit.jsonl"].map(dir.file))
    }

    @Test func streamsACompressedSiblingThenThePlainFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try writeRotatedLog(at: path, before: 999, after: 5)
        let gzip = try Process.run(URL(fileURLWithPath: "/bin/gzip"), arguments: [path + ".1"])
        gzip.waitUntilExit()
        let files = try AuditReader.logFiles(of: path)
        #expect(files == [path + ".1.gz", path])

        let reader = AuditReader(files: files, maximumLineLength: 4096)
        var seqs: [UInt64] = []
        while let record = try reader.nextRecord() { seqs.append(record.seq) }
        #expect(seqs == Array(1...1005))
        #expect(try AuditVerifier(hash: sha256sum).verify(files: files).exitCode == 0)
        // A writer restarted on an empty live file continues from the compressed sibling.
        try FileManager.default.removeItem(atPath: path)
        #expect(try AuditWriter(path: path, hash: sha256sum).chainPoint.seq == 1000)
    }

    @Test func linesCarryFileAndNumber() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data("a\n\nb".utf8).write(to: URL(fileURLWithPath: dir.file("x")))
        let reader = AuditReader(files: [dir.file("x")])
        var read: [AuditLine] = []
        while let line = try reader.nextLine() { read.append(line) }
        #expect(read.map { "\($0.number):\(String(decoding: $0.bytes, as: UTF8.self)):\($0.terminated)" }
            == ["1:a:true", "2::true", "3:b:false"])
        #expect(read.allSatisfy { $0.file == dir.file("x") })
        #expect(throws: AuditError.malformedRecord(path: dir.file("x"), line: 1, reason: "not JSON: unexpected character at byte 1")) {
            try AuditReader(files: [dir.file("x")]).nextRecord()
        }
    }

    @Test func overlongLinesAndBadFilesAreErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data((String(repeating: "y", count: 200_000) + "\n").utf8).write(to: URL(fileURLWithPath: dir.file("long")))
        #expect(throws: AuditError.lineTooLong(path: dir.file("long"), line: 1)) {
            try AuditReader(files: [dir.file("long")], maximumLineLength: 100_000).nextLine()
        }
        try Data("not gzip".utf8).write(to: URL(fileURLWithPath: dir.file("bad.gz")))
        #expect(throws: AuditError.decompression(path: dir.file("bad.gz"), status: 1)) {
            let reader = AuditReader(files: [dir.file("bad.gz")])
            while try reader.nextLine() != nil {}
        }
        #expect(throws: AuditError.system(call: "open", path: dir.file("absent"), errno: ENOENT)) {
            try AuditReader(files: [dir.file("absent")]).nextLine()
        }
    }
}
