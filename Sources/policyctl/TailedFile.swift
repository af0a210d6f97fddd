import Foundation

/// One open log file read as it grows: complete lines out, a partial last line held back until
/// its newline arrives. Reads go through a bounded buffer; a line longer than the limit is
/// reported and skipped.
final class TailedFile {
    let path: String
    /// How messages name the file: its path, or what it was before it was rotated away.
    var label: String
    let device: UInt64
    let inode: UInt64
    private let fd: Int32
    /// Bytes consumed so far: the descriptor's position (read(2) moves it, so /proc shows it too).
    private(set) var offset: Int64 = 0
    /// Lines handed out so far: the number of the last one.
    private(set) var lineNumber = 0
    private var pending: [UInt8] = []
    private var skippingLongLine = false
    static let maximumLine = 1 << 20

    /// Opens `path` for reading; nil if it does not exist (yet).
    init?(path: String) throws(Failure) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw Failure.usage("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Failure.usage("cannot follow \(path): not a regular file")
        }
        self.path = path
        label = path
        self.fd = fd
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit { close(fd) }

    /// The file's current size.
    var size: Int64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Whether `path` now names this same file.
    var isStillAtPath: Bool {
        var info = stat()
        return stat(path, &info) == 0 && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Whether the file was cut back below what was read (copytruncate); if so, reading starts
    /// again from its beginning.
    func rewindIfTruncated() -> Bool {
        guard size < offset, lseek(fd, 0, SEEK_SET) == 0 else { return false }
        offset = 0
        lineNumber = 0
        pending = []
        skippingLongLine = false
        return true
    }

    /// Hands each complete line read up to `limit` (or the end) to `line`; `tooLong` is told of
    /// lines over the limit, by number.
    func read(upTo limit: Int64 = .max, _ line: ([UInt8], Int) throws -> Void, tooLong: (Int) -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while offset < limit {
            let wanted = Int(min(Int64(chunk.count), limit - offset))
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, wanted) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                if count < 0 { throw Failure.usage("cannot read \(path): \(String(cString: strerror(errno)))") }
                return
            }
            offset += Int64(count)
            var start = 0
            while let newline = chunk[start..<count].firstIndex(of: 0x0A) {
                if skippingLongLine {
                    skippingLongLine = false
                } else {
                    pending += chunk[start..<newline]
                    lineNumber += 1
                    try line(pending, lineNumber)
                }
                pending.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            guard !skippingLongLine else { continue }
            pending += chunk[start..<count]
            if pending.count > Self.maximumLine {
                lineNumber += 1
                tooLong(lineNumber)
                pending = []
                skippingLongLine = true
            }
        }
    }

    /// Bytes of an unfinished last line held back (a file that ends mid-record).
    var hasPartialLine: Bool { !pending.isEmpty }
}
