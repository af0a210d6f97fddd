// audit-bench: hands N records to PortcullisAudit's AuditTrail, the daemon's writer thread over an
// AuditWriter (SHA256.hex as the chain's hash, as the daemon uses it), waits until the last is in
// the file, and prints one JSON line with the records per second.
// Run by Benchmarks/run (Benchmarks/lib/audit.py); the records look like the daemon's busiest kind,
// channel-open and channel-close pairs with their usual fields.
//
//   audit-bench --records 200000 --path /tmp/audit.jsonl
import Foundation
import PortcullisAudit
import PortcullisPolicy

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: audit-bench --records N --path FILE (a new file)\n".utf8))
    exit(2)
}

var records = 0
var path = ""
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--records": records = Int(arguments.popFirst() ?? "") ?? 0
    case "--path": path = arguments.popFirst() ?? ""
    default: usage()
    }
}
guard records > 0, !path.isEmpty, !FileManager.default.fileExists(atPath: path) else { usage() }

do {
    let writer = try AuditWriter(path: path, hash: { SHA256.hex($0) })
    let trail = AuditTrail(writer: writer, report: { FileHandle.standardError.write(Data("audit-bench: \($0)\n".utf8)) })
    let start = ContinuousClock.now
    var last: AuditTrail.Ticket = 0
    for index in 0..<records {
        let channel = JSONValue.int(Int64(index / 2 % 1000))
        let session = UInt64(index / 200 + 1)
        if index % 2 == 0 {
            last = trail.submit(event: AuditEvent.channelOpen, session: session, fields: [
                JSONMember(AuditField.channel, channel), JSONMember(AuditField.kind, "tcp-open"),
                JSONMember(AuditField.target, "127.0.0.1:5432"), JSONMember(AuditField.originator, "127.0.0.1:51234"),
            ])
        } else {
            last = trail.submit(event: AuditEvent.channelClose, session: session, fields: [
                JSONMember(AuditField.channel, channel), JSONMember(AuditField.kind, "tcp-open"),
                JSONMember(AuditField.target, "127.0.0.1:5432"),
                JSONMember(AuditField.bytesFromClient, .int(Int64(index) * 1337)),
                JSONMember(AuditField.bytesToClient, .int(Int64(index) * 7)),
                JSONMember(AuditField.duration, .double(1.234567)), JSONMember(AuditField.reason, "eof"),
            ])
        }
    }
    guard trail.waitUntilWritten(last, timeout: 600) else { throw AuditError.shortWrite(path: path) }
    let elapsed = ContinuousClock.now - start
    trail.close(timeout: 10)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let lines = data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    print("{\"records\":\(records),\"lines\":\(lines),\"bytes\":\(data.count),\"seconds\":\(seconds),"
          + "\"records_per_second\":\(Double(records) / seconds)}")
} catch {
    FileHandle.standardError.write(Data("audit-bench: \(error)\n".utf8))
    exit(1)
}
