#if canImport(Glibc)
import Glibc
#endif

/// What stops the audit log from being written or read.
public enum AuditError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A system call failed; `errno` says why (ENOSPC for a full disk).
    case system(call: String, path: String, errno: Int32)
    /// Fewer bytes reached the file than the line holds; the partial line was cut off again.
    case shortWrite(path: String)
    /// A field was named like one of the record's own members.
    case reservedField(String)
    /// The existing log's last line is incomplete or not a record, so the chain cannot continue from it.
    case unusableLastLine(path: String, reason: String)
    /// The log's last line is torn and could not be saved to its side file (a full disk); the log
    /// was left as it was.
    case sideFileFailed(log: String, sideFile: String, call: String, errno: Int32)
    /// A line is longer than a reader will buffer.
    case lineTooLong(path: String, line: Int)
    /// A line that is not an audit record.
    case malformedRecord(path: String, line: Int, reason: String)
    /// `gzip -dc` failed on a compressed file.
    case decompression(path: String, status: Int32)

    public var description: String {
        switch self {
        case .system(let call, let path, let errno): "\(path): \(call): \(String(cString: strerror(errno)))"
        case .shortWrite(let path): "\(path): short write"
        case .reservedField(let key): "field name \"\(key)\" is reserved"
        case .unusableLastLine(let path, let reason): "\(path): last line: \(reason); cannot continue its chain"
        case .sideFileFailed(let log, let sideFile, let call, let errno):
            "\(log): its last line is torn (a crash mid-write) and cannot be moved aside to \(sideFile): \(call): "
                + "\(String(cString: strerror(errno))); the log was left as it was: make room and start again"
        case .lineTooLong(let path, let line): "\(path):\(line): line too long"
        case .malformedRecord(let path, let line, let reason): "\(path):\(line): \(reason)"
        case .decompression(let path, let status): "\(path): gzip -dc failed (status \(status))"
        }
    }
}

extension AuditError {
    /// `.system` for the `errno` just set.
    static func lastSystem(_ call: String, _ path: String) -> AuditError {
        .system(call: call, path: path, errno: errno)
    }
}
