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
        let tail = try LogTail.read(fd: fd, path: path, lines: 1)
        guard tail.torn.isEmpty else { throw .unusableLastLine(path: path, reason: "no newline at the end") }
        return tail.lines.last?.bytes
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
