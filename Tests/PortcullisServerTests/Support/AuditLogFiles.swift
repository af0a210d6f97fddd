import Foundation
import PortcullisAudit
import PortcullisPolicy
import PortcullisTestSupport

/// The audit log a test daemon wrote, read back as records (rotated files first).
struct AuditLogFiles {
    let path: String

    var files: [String] { (try? AuditReader.logFiles(of: path)) ?? [path] }

    func records() throws -> [AuditRecord] {
        let reader = AuditReader(files: files)
        var records: [AuditRecord] = []
        while let record = try reader.nextRecord() { records.append(record) }
        return records
    }

    /// The records of `session`, in order.
    func records(of session: UInt64) throws -> [AuditRecord] {
        try records().filter { $0.session == session }
    }

    /// The chain checked with the project's SHA-256.
    func verify() throws -> AuditVerification {
        try AuditVerifier(hash: { SHA256.hex($0) }).verify(files: files)
    }
}

extension AuditRecord {
    /// A string field, or "" when absent.
    func text(_ name: String) -> String { self[field: name]?.stringValue ?? "" }

    /// An integer field, or -1 when absent.
    func number(_ name: String) -> Int64 { self[field: name]?.intValue ?? -1 }
}

/// A service that reads each connection to its end, then answers with `reply` and closes: its
/// byte counts each way are known exactly.
func replyService(_ reply: [UInt8]) throws -> TCPService {
    try TCPService { connection in
        _ = try? TestSocket.readToEnd(connection)
        try? TestSocket.writeAll(connection, reply)
        close(connection)
    }
}

extension TestDaemon {
    /// SIGTERM, then waits for a clean exit: every session-end and daemon-stop is written by then.
    func terminate() throws {
        kill(process.pid, SIGTERM)
        try waitUntil("the daemon to exit") { !process.isRunning }
        guard process.exitStatus == 0 else { throw TestFailure("portcullisd exited with \(process.exitStatus ?? -1)") }
    }
}
