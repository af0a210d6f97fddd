#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one config file without ever blocking on it or reading without bound: only a regular
/// file is opened (a FIFO, device, socket or directory is named as such, never opened), and at
/// most `limit` bytes are read.
enum ConfigFileReader {
    /// The most a main config file may hold: it may list every key (10,000 keys of 20 rules each
    /// take about 8 MB).
    static let mainFileLimit = 16 << 20
    /// The most a keys_dir file may hold: one key entry.
    static let keyFileLimit = 1 << 20

    /// Whether a symbolic link is followed: the main file (named by the administrator) may be a
    /// link; a keys_dir entry may not.
    enum Links { case follow, refuse }

    /// The bytes of `path`, or why it cannot be read (a sentence without the path).
    static func read(_ path: String, limit: Int, links: Links) -> Result<[UInt8], FileProblem> {
        var status = stat()
        let statted = links == .follow ? stat(path, &status) : lstat(path, &status)
        guard statted == 0 else { return .failure(.cannotRead(errno)) }
        if let kind = nonRegularKind(status.st_mode) { return .failure(.notRegular(kind)) }
        guard Int(status.st_size) <= limit else { return .failure(.tooLarge(size: Int(status.st_size), limit: limit)) }
        let flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (links == .follow ? 0 : O_NOFOLLOW)
        let fd = open(path, flags)
        guard fd >= 0 else { return .failure(errno == ELOOP ? .notRegular("symbolic link") : .cannotRead(errno)) }
        defer { close(fd) }
        // It may have been replaced since lstat: decide on what was opened.
        guard fstat(fd, &status) == 0 else { return .failure(.cannotRead(errno)) }
        if let kind = nonRegularKind(status.st_mode) { return .failure(.notRegular(kind)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(Int(status.st_size), limit) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.cannotRead(errno))
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            // A file that grows while it is read is still refused at the limit.
            if bytes.count > limit { return .failure(.tooLarge(size: bytes.count, limit: limit)) }
        }
        return .success(bytes)
    }

    private static func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
        #else
        Darwin.read(fd, buffer, count)
        #endif
    }

    /// What a file is when it is not a regular file ("a FIFO"); nil for a regular file.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "directory"
        case S_IFIFO: "FIFO"
        case S_IFSOCK: "socket"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFLNK: "symbolic link"
        default: "special file"
        }
    }

    /// `a FIFO`, `an ...`: the article for `kind`.
    static func article(_ kind: String) -> String {
        "aeiou".contains(kind.first ?? "x") ? "an \(kind)" : "a \(kind)"
    }

    /// Why a file could not be read.
    enum FileProblem: Error, Equatable {
        case cannotRead(Int32)
        case notRegular(String)
        case tooLarge(size: Int, limit: Int)

        /// The reason as a config problem message.
        var message: String {
            switch self {
            case .cannotRead(let code):
                switch code {
                case ENOENT: "cannot read: no such file"
                case EACCES: "cannot read: permission denied"
                default: "cannot read: \(String(cString: strerror(code)))"
                }
            case .notRegular("symbolic link"):
                "not a regular file (a symbolic link: keys_dir files are never followed through links; put the file itself here)"
            case .notRegular(let kind): "not a regular file (\(ConfigFileReader.article(kind)))"
            case .tooLarge(let size, let limit):
                "file is \(size) bytes, more than the \(ConfigFileReader.describe(bytes: limit)) a config file may have here"
            }
        }
    }

    /// `1 MiB`, `16 MiB`, `65536 bytes`.
    static func describe(bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % 1024 == 0 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
    }
}
