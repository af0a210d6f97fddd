#if canImport(Glibc)
import Glibc
#endif
import PortcullisPolicy
import Synchronization

/// Unix socket files on the proxy, created and opened without following symlinks anywhere a rule
/// did not name.
///
/// Listening: every directory from `socket_root` down is opened with O_NOFOLLOW (missing ones are
/// created 0700), and the socket is bound through the last directory's descriptor
/// (`/proc/self/fd/N/name`), so no component can be swapped for a symlink between the check and
/// the bind. Opening: the target is opened with O_PATH, must be a socket, and is connected to
/// through that descriptor; its fully resolved path is what the caller checks against the rules.
///
/// Removing: only a socket the `SocketRegistry` records as created by this daemon, and only if the
/// file at the name is still that socket (device and inode) and nobody accepts on it. Every check,
/// removal and creation of a socket name happens under one process-wide lock, so two sessions of
/// this daemon can never remove each other's sockets; the directories are the daemon's own (0700),
/// so no other user can change them in between.
enum UnixSocketFile {
    /// Held while a socket name is checked, removed or created.
    private static let names = Mutex(())

    /// A socket file this process created: removed on close only if it is still the same file.
    final class Created {
        let path: String
        private let directory: Int32
        private let name: String
        private let file: FileID
        private let registry: SocketRegistry

        fileprivate init(path: String, directory: Int32, name: String, file: FileID, registry: SocketRegistry) {
            self.path = path
            self.directory = directory
            self.name = name
            self.file = file
            self.registry = registry
        }

        deinit {
            close(directory)
        }

        /// Removes the file if it is still the one that was created (same device and inode).
        func remove() {
            UnixSocketFile.names.withLock { _ in
                UnixSocketFile.removeIfSame(file, directory: directory, name: name)
                registry.removed(file)
            }
        }
    }

    /// A listening socket at `path`, which must lie under `root`. A stale socket this daemon created
    /// at the path (nobody accepts on it) is replaced; a live one, or any other file, is refused and
    /// left alone. The new socket is recorded in `registry` before it gets its name.
    static func listen(path: String, root: String, mode: mode_t,
                       registry: SocketRegistry) throws -> (fd: Int32, created: Created) {
        // Bytes, not Characters: a "/" followed by a combining mark is one Character, and splitting
        // on Characters would hand openat a name with a "/" in it (whose symlinks it follows).
        let rootPrefix = Array((root.hasSuffix("/") ? root : root + "/").utf8)
        let pathBytes = Array(path.utf8)
        guard pathBytes.starts(with: rootPrefix) else { throw UnixSocketError("\(path) is outside socket_root \(root)") }
        var components = pathBytes[rootPrefix.count...].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard let name = components.popLast(), !name.isEmpty,
              !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw UnixSocketError("malformed socket path \(path)")
        }
        if (components + [name]).contains(where: { SocketRegistry.isReservedName(Array($0.utf8)) }) {
            throw UnixSocketError("\(path): names beginning \".portcullis-\" are reserved for the daemon")
        }
        var directory = open(root, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { throw UnixSocketError("cannot open socket_root \(root): \(lastError)") }
        for component in components {
            if mkdirat(directory, component, 0o700) != 0 && errno != EEXIST {
                let reason = lastError
                close(directory)
                throw UnixSocketError("cannot create directory \(component) for \(path): \(reason)")
            }
            let next = openat(directory, component, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let reason = errno == ELOOP || errno == ENOTDIR ? "it is a symlink or not a directory" : lastError
            close(directory)
            guard next >= 0 else { throw UnixSocketError("cannot use directory \(component) of \(path): \(reason)") }
            directory = next
        }
        do {
            let (fd, file) = try names.withLock { _ in
                try clearStaleSocket(directory: directory, name: name, path: path, registry: registry)
                return try bindAndListen(viaDirectory: directory, name: name, path: path, mode: mode, registry: registry)
            }
            return (fd, Created(path: path, directory: directory, name: name, file: file, registry: registry))
        } catch {
            close(directory)
            throw error
        }
    }

    /// A connection to the socket at `path`, through a descriptor that pins the file; `resolved` is
    /// the file's fully resolved path. `permit` is asked about the resolved path before connecting.
    static func connect(path: String, permit: (_ resolved: String) -> String?) throws -> Int32 {
        let target = open(path, openPathOnly | O_CLOEXEC)
        guard target >= 0 else { throw UnixSocketError("cannot open \(path): \(lastError)") }
        defer { close(target) }
        var info = stat()
        guard fstat(target, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else {
            throw UnixSocketError("\(path) is not a socket")
        }
        let pinned = "/proc/self/fd/\(target)"
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(pinned, &buffer, buffer.count - 1)
        guard length > 0 else { throw UnixSocketError("cannot resolve \(path): \(lastError)") }
        let resolved = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let refusal = permit(resolved) { throw UnixSocketError(refusal) }
        return try Socket.connectUnix(path: pinned)
    }

    /// Removes a stale socket of ours at the name; anything else there is refused and left alone.
    /// Called with `names` held.
    private static func clearStaleSocket(directory: Int32, name: String, path: String,
                                         registry: SocketRegistry) throws {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw UnixSocketError("\(path) exists and is not a socket; left untouched")
        }
        let file = FileID(info)
        guard registry.owns(file, at: Array(path.utf8)) else {
            throw UnixSocketError("\(path) exists and was not created by portcullisd; left untouched")
        }
        guard !isLive("/proc/self/fd/\(directory)/\(name)") else {
            throw UnixSocketError("\(path) is in use by another session")
        }
        removeIfSame(file, directory: directory, name: name)
        registry.removed(file)
    }

    /// Unlinks `name` only if it is still `file`. Called with `names` held.
    private static func removeIfSame(_ file: FileID, directory: Int32, name: some StringProtocol) {
        var info = stat()
        if fstatat(directory, String(name), &info, AT_SYMLINK_NOFOLLOW) == 0, FileID(info) == file {
            unlinkat(directory, String(name), 0)
        }
    }

    /// Binds under a temporary name, sets the mode, then links the socket to its real name, so the
    /// path never exists with any other mode and is never taken over if something appeared there.
    /// Called with `names` held; returns the listening descriptor and the socket file's identity.
    private static func bindAndListen(viaDirectory directory: Int32, name: String, path: String,
                                      mode: mode_t, registry: SocketRegistry) throws -> (Int32, FileID) {
        let temporary = ".portcullis-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let fd: Int32
        do {
            fd = try Socket.listenUnix(path: "/proc/self/fd/\(directory)/\(temporary)")
        } catch let error as SocketError {
            throw UnixSocketError("cannot listen on \(path): \(String(cString: strerror(error.code)))")
        }
        defer { unlinkat(directory, temporary, 0) }
        guard fchmodat(directory, temporary, mode, 0) == 0 else {
            let reason = lastError
            close(fd)
            throw UnixSocketError("cannot set the mode of \(path): \(reason)")
        }
        var info = stat()
        guard fstatat(directory, temporary, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            let reason = lastError
            close(fd)
            throw UnixSocketError("cannot listen on \(path): \(reason)")
        }
        let file = FileID(info)
        registry.created(file, path: Array(path.utf8))
        guard linkat(directory, temporary, directory, name, 0) == 0 else {
            let reason = errno == EEXIST ? "something else was created there meanwhile" : lastError
            close(fd)
            registry.removed(file)
            throw UnixSocketError("cannot listen on \(path): \(reason)")
        }
        return (fd, file)
    }

    /// What a start-up sweep of socket_root did.
    struct Sweep {
        /// Stale sockets this daemon had created (left by a crash), removed.
        var removed: [String] = []
        /// Sockets found and left alone, with why: not created by this daemon, or in use.
        var leftAlone: [(path: String, reason: String)] = []
        /// Set when the walk stopped at its bounds before seeing everything.
        var incomplete: String?
    }

    /// Bounds of the start-up walk of socket_root.
    static let sweepMaxDepth = 32
    static let sweepMaxEntries = 200_000

    /// Removes the sockets under `root` that `registry` records as this daemon's, that are still the
    /// same files and that nobody accepts on (a crash left them); reports every other socket found
    /// without touching it. Names are handled as raw bytes; symlinks are not followed; the walk is
    /// bounded in depth and entries. Forgets recorded sockets that no longer exist.
    static func sweep(root: String, registry: SocketRegistry) -> Sweep {
        var sweep = Sweep()
        var found = Set<FileID>()
        var budget = sweepMaxEntries
        names.withLock { _ in
            let directory = open(root, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard directory >= 0 else {
                sweep.incomplete = "cannot open socket_root \(root): \(lastError)"
                return
            }
            let top = Array((root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root).utf8)
            walk(directory, path: top, depth: 0, budget: &budget, registry: registry, found: &found, into: &sweep)
        }
        if sweep.incomplete == nil {
            for entry in registry.entries where !found.contains(FileID(device: entry.device, inode: entry.inode)) {
                registry.removed(FileID(device: entry.device, inode: entry.inode))
            }
        }
        do { try registry.compact() } catch { sweep.incomplete = sweep.incomplete ?? "\(error)" }
        return sweep
    }

    /// Takes ownership of `directory` (closes it).
    private static func walk(_ directory: Int32, path: [UInt8], depth: Int, budget: inout Int,
                             registry: SocketRegistry, found: inout Set<FileID>, into sweep: inout Sweep) {
        guard let stream = fdopendir(directory) else {
            close(directory)
            return
        }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            budget -= 1
            guard budget >= 0 else {
                sweep.incomplete = "stopped after \(sweepMaxEntries) entries under socket_root"
                return
            }
            let childPath = path + [UInt8(ascii: "/")] + name
            var info = stat()
            let cName = name.map { CChar(bitPattern: $0) } + [0]
            guard fstatat(directory, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard depth + 1 < sweepMaxDepth else {
                    sweep.incomplete = "did not descend below \(escapedBytes(childPath)) (deeper than \(sweepMaxDepth))"
                    continue
                }
                let child = openat(directory, cName, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 {
                    walk(child, path: childPath, depth: depth + 1, budget: &budget, registry: registry,
                         found: &found, into: &sweep)
                }
            case S_IFSOCK:
                let file = FileID(info)
                let shown = escapedBytes(childPath)
                guard registry.owns(file, at: childPath) else {
                    sweep.leftAlone.append((shown, "not created by portcullisd"))
                    continue
                }
                found.insert(file)
                // A socket of ours has the UTF-8 name it was created with (or a temporary one).
                if let text = String(validating: name, as: UTF8.self), isLive("/proc/self/fd/\(directory)/\(text)") {
                    sweep.leftAlone.append((shown, "in use"))
                } else if unlinkat(directory, cName, 0) == 0 {
                    registry.removed(file)
                    sweep.removed.append(shown)
                }
            default:
                continue
            }
        }
    }

    /// Whether something accepts on the socket at `path`: only a refused connection means stale.
    private static func isLive(_ path: String) -> Bool {
        do {
            close(try Socket.connectUnix(path: path))
            return true
        } catch let error as SocketError {
            return error.code != ECONNREFUSED
        } catch {
            return true
        }
    }

    /// Linux's O_PATH (a GNU extension Glibc's Swift overlay does not export): a descriptor that
    /// pins a file without opening it for reading or writing.
    private static let openPathOnly: Int32 = 0o10000000

    private static var lastError: String { String(cString: strerror(errno)) }
}

/// Why a Unix socket could not be listened on or opened, in words for the client and the log.
struct UnixSocketError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
