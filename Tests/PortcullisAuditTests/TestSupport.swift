import Foundation
import PortcullisAudit
import Synchronization
import PortcullisTestSupport

/// SHA-256 as `/usr/bin/sha256sum` computes it, so the chain is checked against an independent
/// implementation. Results are cached: the verifier hashes the same lines the writer did.
let sha256sum: AuditChain.Hash = { data in
    if let known = hashCache.withLock({ $0[data] }) { return known }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try! process.run()
    input.fileHandleForWriting.write(data)
    try! input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let hex = String(text.prefix(64))
    hashCache.withLock { $0[data] = hex }
    return hex
}

private let hashCache = Mutex<[Data: String]>([:])

/// The lines of a file, without their newlines.
func lines(of path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        .dropLast().map(String.init)
}

/// Writes `count` records of a made-up session to `writer`.
func writeSample(_ writer: AuditWriter, count: Int, session: UInt64 = 1) throws {
    for index in 0..<count {
        try writer.append(event: "channel_closed", session: session, fields: ["channel": .int(Int64(index)), "bytes_in": 10])
    }
}

/// Writes `before` records to `path` and rotates it to `path.1` as logrotate does: rename, one more
/// record that still lands in the renamed file, then the writer reopens. Then writes `after`
/// records to the new file. Returns the writer, still open.
@discardableResult
func writeRotatedLog(at path: String, before: Int, after: Int) throws -> AuditWriter {
    let writer = try AuditWriter(path: path, hash: sha256sum)
    try writeSample(writer, count: before)
    try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
    try writer.append(event: "late", session: 1)
    try writer.reopen()
    try writeSample(writer, count: after, session: 2)
    return writer
}
