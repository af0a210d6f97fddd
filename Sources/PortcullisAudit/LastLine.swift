#if canImport(Glibc)
import Glibc
#endif

/// The last line of a log file, found without reading the whole file when it is plain.
enum LastLine {
    /// The last line (without its newline) of `path`, nil if the file is empty; an unterminated
    /// last line is an error, since a chain must not continue from half a record.
    static func of(_ path: String) throws(AuditError) -> [UInt8]? {
        if path.hasSuffix(".gz") { return try streamed(path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastSystem("open", path) }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0 else { throw .lastSystem("lseek", path) }
        guard size > 0 else { return nil }
        var tail: [UInt8] = []
        var offset = Int(size)
        let chunk = 4096
        // Read backwards until the newline that precedes the last line (or the start of the file).
        while offset > 0 {
            let length = min(chunk, offset)
            offset -= length
            var piece = [UInt8](repeating: 0, count: length)
            let count = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(offset)) }
            guard count == length else { throw .lastSystem("pread", path) }
            tail = piece + tail
            guard tail.last == UInt8(ascii: "\n") else {
                throw .unusableLastLine(path: path, reason: "no newline at the end")
            }
            if let newline = tail.dropLast().lastIndex(of: UInt8(ascii: "\n")) {
                return Array(tail[(newline + 1)..<(tail.count - 1)])
            }
            if tail.count > 1 << 20 { throw .lineTooLong(path: path, line: 0) }
        }
        return Array(tail.dropLast())
    }

    private static func streamed(_ path: String) throws(AuditError) -> [UInt8]? {
        let stream = try LineStream(path: path)
        var last: (bytes: [UInt8], terminated: Bool)?
        while let line = try stream.next() { last = line }
        try stream.close()
        if let last, !last.terminated { throw .unusableLastLine(path: path, reason: "no newline at the end") }
        return last?.bytes
    }
}
