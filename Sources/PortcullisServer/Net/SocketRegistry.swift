#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The socket files this daemon created, persisted so that a later start can tell its own leftovers
/// (a crash) from anybody else's files: only a socket recorded here, still the same file (device and
/// inode) and accepted on by nobody is ever removed.
///
/// The record is a journal next to the sockets (`<socket_root>/.portcullis-sockets`, mode 0600): one
/// line `+ <device> <inode> <path as hex>` when a socket is created, `- <device> <inode>` when it is
/// removed. Appends are single `write`s on an O_APPEND descriptor; a torn last line after a crash is
/// ignored. The file is rewritten (atomically, by rename) from the live set at start and whenever the
/// removed lines outnumber the live ones, so it stays proportional to what exists.
final class SocketRegistry: Sendable {
    /// One created socket file.
    struct Entry: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
        /// The path it was created at, as bytes (never re-encoded).
        let path: [UInt8]
    }

    /// The journal's file name inside socket_root; listens of any name beginning `.portcullis-`
    /// are refused, so no client can bind or shadow it.
    static let fileName = ".portcullis-sockets"

    let path: String
    private struct State {
        var fd: Int32
        var live: [FileID: Entry]
        var lines: Int
    }
    private let state: Mutex<State>

    /// Opens (creating it 0600 if missing) the journal at `path` and reads what it records.
    init(path: String) throws {
        self.path = path
        let live = try Self.read(path: path)
        let fd = try Self.openForAppend(path: path)
        state = Mutex(State(fd: fd, live: live, lines: live.count))
    }

    deinit {
        state.withLock { _ = close($0.fd) }
    }

    /// What the journal records as created and not yet removed.
    var entries: [Entry] {
        state.withLock { Array($0.live.values) }
    }

    /// Whether `file` is a socket this daemon created at `path` (or at a temporary name beside it).
    func owns(_ file: FileID, at path: [UInt8]) -> Bool {
        state.withLock { state in
            guard let entry = state.live[file] else { return false }
            return entry.path == path
                || (Self.directory(of: entry.path) == Self.directory(of: path) && Self.isReservedName(Self.name(of: path)))
        }
    }

    /// Records a socket created at `path`, before the path becomes visible.
    func created(_ file: FileID, path: [UInt8]) {
        state.withLock { state in
            state.live[file] = Entry(device: file.device, inode: file.inode, path: path)
            append("+ \(file.device) \(file.inode) \(Self.hex(path))\n", to: &state)
        }
    }

    /// Records that the socket `file` is gone.
    func removed(_ file: FileID) {
        state.withLock { state in
            guard state.live.removeValue(forKey: file) != nil else { return }
            append("- \(file.device) \(file.inode)\n", to: &state)
        }
    }

    /// Rewrites the journal with just the live entries.
    func compact() throws {
        try state.withLock { state in try rewrite(&state) }
    }

    private func append(_ line: String, to state: inout State) {
        // A failed append errs on the safe side: an unrecorded socket is never removed by a later
        // start, and a removal that was not recorded names a file that no longer exists.
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(state.fd, $0.baseAddress, $0.count) }
        state.lines += 1
        if state.lines > 1024 && state.lines > 2 * state.live.count {
            try? rewrite(&state)
        }
    }

    private func rewrite(_ state: inout State) throws {
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw UnixSocketError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var text = ""
        for entry in state.live.values {
            text += "+ \(entry.device) \(entry.inode) \(Self.hex(entry.path))\n"
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw UnixSocketError("cannot rewrite \(path): \(reason)")
        }
        close(state.fd)
        state.fd = try Self.openForAppend(path: path)
        state.lines = state.live.count
    }

    private static func openForAppend(path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw UnixSocketError("cannot open the socket record \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else {
            close(fd)
            throw UnixSocketError("the socket record \(path) is not a regular file of this user")
        }
        fchmod(fd, 0o600)
        return fd
    }

    /// The live entries a journal records; a missing file records nothing, a torn or foreign line
    /// is skipped.
    private static func read(path: String) throws -> [FileID: Entry] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return [:] }
            throw UnixSocketError("cannot read the socket record \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        // Only whole lines count: a crash mid-append leaves a last line without its newline, and the
        // `+` it was writing came before the socket got its name, so that socket was never visible.
        let whole = bytes[..<(bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)]
        var live: [FileID: Entry] = [:]
        for line in whole.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count >= 3, let device = UInt64(String(decoding: fields[1], as: UTF8.self)),
                  let inode = UInt64(String(decoding: fields[2], as: UTF8.self)) else { continue }
            let file = FileID(device: device, inode: inode)
            if fields.count == 4, fields[0] == [UInt8(ascii: "+")], let path = unhex(fields[3]) {
                live[file] = Entry(device: device, inode: inode, path: path)
            } else if fields.count == 3, fields[0] == [UInt8(ascii: "-")] {
                live[file] = nil
            }
        }
        return live
    }

    /// Names the daemon keeps for itself in socket_root's tree (its journal, temporary socket names).
    static func isReservedName(_ name: [UInt8]) -> Bool {
        name.starts(with: Array(".portcullis-".utf8))
    }

    private static func directory(of path: [UInt8]) -> ArraySlice<UInt8> {
        path[..<(path.lastIndex(of: UInt8(ascii: "/")) ?? path.startIndex)]
    }

    private static func name(of path: [UInt8]) -> [UInt8] {
        Array(path[(path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? path.startIndex)...])
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unhex(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = value(text[index]), let low = value(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// A file's identity on this machine: it stays the same across renames and links, and no other
/// file has it while this one exists.
struct FileID: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ info: stat) {
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}
