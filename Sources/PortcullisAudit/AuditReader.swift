import Foundation

/// One line of a log file, as read.
public struct AuditLine: Sendable, Hashable {
    public let file: String
    /// 1-based line number within `file`.
    public let number: Int
    /// The bytes without the newline.
    public let bytes: [UInt8]
    /// Whether a newline ended the line (the last line of a truncated file has none).
    public let terminated: Bool

    /// The line parsed as a record.
    public func record() throws(AuditRecordError) -> AuditRecord { try AuditRecord(line: bytes) }
}

/// Streams the lines and records of several log files in the order given (oldest first), plain
/// or `.gz`, in constant memory: one file open at a time, one bounded buffer.
public final class AuditReader {
    private var pending: [String]
    private let maximumLineLength: Int
    private var current: LineStream?

    /// `files` oldest first, e.g. ``AuditReader/logFiles(of:)``. Lines longer than
    /// `maximumLineLength` bytes are an error.
    public init(files: [String], maximumLineLength: Int = 1 << 20) {
        pending = files
        self.maximumLineLength = maximumLineLength
    }

    /// The next line of any file, or nil after the last.
    public func nextLine() throws(AuditError) -> AuditLine? {
        while true {
            if current == nil {
                guard !pending.isEmpty else { return nil }
                current = try LineStream(path: pending.removeFirst(), maximumLine: maximumLineLength)
            }
            guard let stream = current else { continue }
            if let (bytes, terminated) = try stream.next() {
                return AuditLine(file: stream.path, number: stream.lineNumber, bytes: bytes, terminated: terminated)
            }
            current = nil
            try stream.close()
        }
    }

    /// The next record, or nil after the last; a line that is not a record is an error naming it.
    public func nextRecord() throws(AuditError) -> AuditRecord? {
        guard let line = try nextLine() else { return nil }
        do {
            return try line.record()
        } catch {
            throw .malformedRecord(path: line.file, line: line.number, reason: error.description)
        }
    }

    /// The log at `path` and its rotated siblings, oldest first: `audit.jsonl.3.gz`,
    /// `audit.jsonl.2.gz`, `audit.jsonl.1`, `audit.jsonl`. Only names of that form count; a missing
    /// `path` itself is left out.
    public static func logFiles(of path: String) throws(AuditError) -> [String] {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw .system(call: "opendir", path: directory, errno: ENOENT)
        }
        var found: [(generation: Int, compressed: Bool, name: String)] = []
        for name in names where name.hasPrefix(base) {
            if name == base {
                found.append((0, false, name))
                continue
            }
            var rest = name.dropFirst(base.count)
            guard rest.first == "." else { continue }
            rest = rest.dropFirst()
            let compressed = rest.hasSuffix(".gz")
            if compressed { rest = rest.dropLast(3) }
            guard !rest.isEmpty, rest.count < 10, rest.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let generation = Int(rest), generation > 0 else { continue }
            found.append((generation, compressed, name))
        }
        found.sort { ($0.generation, $0.compressed ? 1 : 0) > ($1.generation, $1.compressed ? 1 : 0) }
        return found.map { url.deletingLastPathComponent().appendingPathComponent($0.name).path }
    }
}
