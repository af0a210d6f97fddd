import Foundation

/// Follows a log by path, polled, as `tail -F` does. When the file is renamed away and a new one
/// created (logrotate), the old file is read to its end before the new one: the old one is kept
/// open until the new one has data, since the writer may add a last record to the old file before
/// it reopens. A file cut back below what was read (copytruncate) is read again from its start.
final class LogTail {
    let path: String
    private var current: TailedFile?
    private var retired: TailedFile?
    /// Told of what is worth a note on stderr: a truncation, or a problem (an unusable line) when
    /// the flag is set.
    private let note: (String, Bool) -> Void

    /// Opens `path` if it exists; otherwise it is picked up once it appears.
    init(path: String, note: @escaping (String, Bool) -> Void) throws(Failure) {
        self.path = path
        self.note = note
        current = try TailedFile(path: path)
    }

    /// The size of the file at `path` now (0 if there is none yet).
    var currentSize: Int64 { current?.size ?? 0 }

    /// Hands every complete line added since the last poll to `line` (bytes, file, line number),
    /// in log order. `limit` stops the first read of the current file at that offset.
    func poll(upTo limit: Int64 = .max, _ line: ([UInt8], String, Int) throws -> Void) throws {
        if let current, !current.isStillAtPath, let replacement = try TailedFile(path: path) {
            // Rotated twice between polls: the older of the two is surely complete.
            if let retired { try read(retired, upTo: .max, line) }
            current.label = "\(path) (rotated)"
            retired = current
            self.current = replacement
        } else if current == nil {
            current = try TailedFile(path: path)
        }
        guard let current else { return }
        let available = current.size
        if let retired {
            // Anything in the new file was written after everything in the old one.
            try read(retired, upTo: .max, line)
            if available > 0 {
                if retired.hasPartialLine { note("\(retired.label):\(retired.lineNumber + 1): incomplete last line; skipped", true) }
                self.retired = nil
            }
            try read(current, upTo: available, line)
            return
        }
        if current.rewindIfTruncated() { note("\(path) was truncated; reading it again from its start", false) }
        try read(current, upTo: min(limit, available), line)
    }

    private func read(_ file: TailedFile, upTo limit: Int64, _ line: ([UInt8], String, Int) throws -> Void) throws {
        try file.read(upTo: limit, { bytes, number in try line(bytes, file.label, number) },
                      tooLong: { number in note("\(file.label):\(number): line too long; skipped", true) })
    }
}
