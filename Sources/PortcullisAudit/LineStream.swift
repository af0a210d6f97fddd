#if canImport(Glibc)
import Glibc
#endif

/// The lines of one file, plain or gzip-compressed (through `gzip -dc`), read through a buffer of
/// bounded size: memory stays constant however large the file is.
final class LineStream {
    let path: String
    private let maximumLine: Int
    private var fd: Int32
    private var child: pid_t?
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    private var atEnd = false
    private(set) var lineNumber = 0

    /// Opens `path`; a name ending in `.gz` is decompressed by a `gzip -dc` child process.
    init(path: String, maximumLine: Int = 1 << 20) throws(AuditError) {
        self.path = path
        self.maximumLine = maximumLine
        if path.hasSuffix(".gz") {
            (fd, child) = try Self.spawnGzip(path)
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .lastSystem("open", path) }
        }
    }

    deinit { finish() }

    /// The next line without its newline, and whether a newline ended it; nil at the end.
    func next() throws(AuditError) -> (bytes: [UInt8], terminated: Bool)? {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                scanned = start
                lineNumber += 1
                return (line, true)
            }
            scanned = buffer.count
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return (line, false)
            }
            if buffer.count - start > maximumLine { throw .lineTooLong(path: path, line: lineNumber + 1) }
            try fill()
        }
    }

    /// Ends the stream; for a compressed file read to its end, a failing `gzip` is an error.
    func close() throws(AuditError) {
        let readAll = atEnd
        if let status = finish(), readAll, status != 0 { throw .decompression(path: path, status: status) }
    }

    private func fill() throws(AuditError) {
        buffer.removeFirst(start)
        scanned -= start
        start = 0
        let chunk = 64 * 1024
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: chunk))
        var count: Int
        repeat {
            count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, chunk) }
        } while count < 0 && errno == EINTR
        guard count >= 0 else { throw .lastSystem("read", path) }
        buffer.removeLast(chunk - count)
        if count == 0 {
            atEnd = true
            if let status = finish(), status != 0 { throw .decompression(path: path, status: status) }
        }
    }

    /// Closes the descriptor and reaps the child, returning its exit status if there was one.
    @discardableResult
    private func finish() -> Int32? {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        guard let pid = child else { return nil }
        child = nil
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Exited normally: the exit code; killed (SIGPIPE after an early stop): 128 + signal.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private static func spawnGzip(_ path: String) throws(AuditError) -> (Int32, pid_t) {
        guard access(path, R_OK) == 0 else { throw .lastSystem("open", path) }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw .lastSystem("pipe", path) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let arguments = ["gzip", "-dc", "--", path]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/bin/gzip", &actions, nil, &argv, environ)
        Glibc.close(ends[1])
        guard result == 0 else {
            Glibc.close(ends[0])
            throw .system(call: "posix_spawn /bin/gzip", path: path, errno: result)
        }
        return (ends[0], pid)
    }
}
