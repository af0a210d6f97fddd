import Foundation
import PortcullisAudit

/// Streams log lines through an ``AuditMatcher``. A line that is not a record is reported on
/// stderr as `FILE:LINE: reason` and skipped; a line too long to buffer ends the reading of its
/// file. Either counts in ``problems``.
final class AuditScan {
    private(set) var problems = 0
    private var matcher: AuditMatcher

    init(filter: AuditFilter) { matcher = AuditMatcher(filter: filter) }

    /// Calls `body` with every record of `files` (oldest first), matching or not, in log order.
    func run(files: [String], _ body: (AuditLine, AuditMatcher.Match) throws -> Void) throws {
        for file in files {
            // One reader per file, so a file that cannot be read to its end does not hide the next.
            let reader = AuditReader(files: [file])
            while true {
                let line: AuditLine?
                do { line = try reader.nextLine() } catch {
                    if case .lineTooLong = error {
                        report("\(error); the rest of \(file) is skipped")
                        break
                    }
                    throw Failure.usage("cannot read \(error)")
                }
                guard let line else { break }
                if let match = take(line.bytes, file: line.file, number: line.number, terminated: line.terminated) {
                    try body(line, match)
                }
            }
        }
    }

    /// The match of one line, or nil once a line that is not a record is reported.
    func take(_ bytes: [UInt8], file: String, number: Int, terminated: Bool = true) -> AuditMatcher.Match? {
        do { return try matcher.take(bytes) } catch {
            report("\(file):\(number): \(terminated ? "" : "incomplete last line: ")\(error)")
            return nil
        }
    }

    /// Takes in a line only to learn its session's identity; nothing is reported.
    func observe(_ bytes: [UInt8]) { matcher.observe(bytes) }

    /// `policyctl: MESSAGE` on stderr, after what stdout holds so far; a problem counts in ``problems``.
    func report(_ message: String, problem: Bool = true) {
        if problem { problems += 1 }
        StandardOutput.flush()
        FileHandle.standardError.write(Data("policyctl: \(message)\n".utf8))
    }
}
