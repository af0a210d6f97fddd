import Foundation
import PortcullisAudit
import Testing
import PortcullisTestSupport

/// Every record names the proxy that wrote it (`proxy`), inside what the chain hashes; logs from
/// before proxy ids still read and verify.
@Suite struct ProxyFieldTests {
    @Test func everyRecordCarriesTheProxyAfterEventAndSession() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        let writer = try AuditWriter(path: path, hash: sha256sum, proxy: "proxy-a")
        let start = try writer.append(event: "daemon-start")
        let auth = try writer.append(event: "auth", session: 7, fields: ["user": "alex"])
        #expect(start.proxy == "proxy-a" && auth.proxy == "proxy-a")
        let written = try lines(of: path)
        #expect(written[0].hasPrefix(#"{"ts":""#))
        #expect(written[0].contains(#","seq":1,"event":"daemon-start","proxy":"proxy-a","prev":""#))
        #expect(written[1].contains(#","event":"auth","session":7,"proxy":"proxy-a","user":"alex","prev":""#))
        #expect(try AuditRecord(line: Array(written[1].utf8)) == auth)
        // A field may not pose as the proxy.
        #expect(throws: AuditError.reservedField("proxy")) { try writer.append(event: "x", fields: ["proxy": "proxy-b"]) }
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [path]).exitCode == 0)
    }

    @Test func theChainCoversTheProxy() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        let writer = try AuditWriter(path: path, hash: sha256sum, proxy: "proxy-a")
        for session in 1...3 { try writer.append(event: "session-start", session: UInt64(session)) }
        var text = try lines(of: path)
        text[1] = text[1].replacingOccurrences(of: #""proxy":"proxy-a""#, with: #""proxy":"proxy-b""#)
        try (text.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        guard case .broken(let place) = try AuditVerifier(hash: sha256sum).verify(files: [path]) else {
            Issue.record("a changed proxy id went unnoticed")
            return
        }
        #expect(place.line == 2 && place.kind == .modified)
    }

    @Test func aLogFromBeforeProxyIdsReadsAndContinues() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try writeSample(try AuditWriter(path: path, hash: sha256sum), count: 2)
        #expect(try AuditReader(files: [path]).nextRecord()?.proxy == nil)
        // The daemon, upgraded, goes on with the same chain and its proxy id.
        let upgraded = try AuditWriter(path: path, hash: sha256sum, proxy: "proxy-a")
        #expect(try upgraded.append(event: "daemon-start").seq == 3)
        #expect(try AuditVerifier(hash: sha256sum).verify(files: [path]) ==
            .intact(first: AuditChainPoint(seq: 1, hash: sha256sum(Data(try lines(of: path)[0].utf8))),
                    last: upgraded.chainPoint))
        // A proxy id that is not a string is not a record.
        #expect(throws: AuditRecordError.missing("proxy")) {
            try AuditRecord(line: Array(#"{"ts":"x","seq":1,"event":"e","proxy":7,"prev":"0"}"#.utf8))
        }
    }

    @Test func aCrashRecoveryRecordCarriesTheProxyToo() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("audit.jsonl")
        try writeSample(try AuditWriter(path: path, hash: sha256sum, proxy: "proxy-a"), count: 2)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"ts":"2026-"#.utf8))
        try handle.close()
        let writer = try AuditWriter(path: path, hash: sha256sum, recoverTornLine: true, proxy: "proxy-a")
        #expect(writer.recovered?.record.proxy == "proxy-a")
        #expect(try lines(of: path).last?.contains(#""event":"audit-recovered","proxy":"proxy-a","#) == true)
    }
}
