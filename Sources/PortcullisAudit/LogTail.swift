#if canImport(Glibc)
import Glibc
#endif

/// The end of a plain log file, read backwards: its last complete lines and whatever follows the
/// last newline (the torn part a crash mid-write leaves).
struct LogTail {
    /// A complete line: where it starts in the file, and its bytes without the newline.
    struct Line: Equatable {
        let offset: Int
        let bytes: [UInt8]
    }

    /// The file's size when read.
    let size: Int
    /// Up to the requested number of last complete lines, oldest first.
    let lines: [Line]
    /// The bytes after the last newline; empty when the file ends with one.
    let torn: [UInt8]

    /// Where the torn part starts.
    var tornOffset: Int { size - torn.count }

    /// Reads the last `count` complete lines of the open file `fd` and the torn part after them.
    /// A line (or torn part) longer than `maximumLine` is an error.
    static func read(fd: Int32, path: String, lines count: Int, maximumLine: Int = 1 << 20) throws(AuditError) -> LogTail {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .lastSystem("fstat", path) }
        let size = Int(info.st_size)
        var data: [UInt8] = []
        var base = size
        let chunk = 64 << 10
        // Enough newlines that the oldest wanted line is bounded on both sides, or the whole file.
        while base > 0 && data.lazy.filter({ $0 == UInt8(ascii: "\n") }).count <= count {
            let length = min(chunk, base)
            base -= length
            var piece = [UInt8](repeating: 0, count: length)
            let got = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(base)) }
            guard got == length else { throw .lastSystem("pread", path) }
            data = piece + data
            if data.count > (count + 1) * maximumLine + chunk { throw .lineTooLong(path: path, line: 0) }
        }
        let newlines = data.indices.filter { data[$0] == UInt8(ascii: "\n") }
        let torn = Array(data[(newlines.last.map { $0 + 1 } ?? 0)...])
        guard torn.count <= maximumLine else { throw .lineTooLong(path: path, line: 0) }
        var lines: [Line] = []
        for (position, end) in newlines.enumerated().reversed() where lines.count < count {
            let start = position > 0 ? newlines[position - 1] + 1 : 0
            // The first piece is a whole line only when it begins the file.
            if position == 0 && base > 0 { break }
            guard end - start <= maximumLine else { throw .lineTooLong(path: path, line: 0) }
            lines.insert(Line(offset: base + start, bytes: Array(data[start..<end])), at: 0)
        }
        return LogTail(size: size, lines: lines, torn: torn)
    }
}
