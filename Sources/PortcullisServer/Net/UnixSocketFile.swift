#if canImport(Glibc)
import Glibc
#endif

/// Unix socket files on the proxy, created and opened without following symlinks anywhere a rule
/// did not name.
///
/// Listening: every directory from `socket_root` down is opened with O_NOFOLLOW (missing ones are
/// created 0700), and the socket is bound through the last directory's descriptor
/// (`/proc/self/fd/N/name`), so no component can be swapped for a symlink between the check and
/// the bind. Opening: the target is opened with O_PATH, must be a socket, and is connected to
/// through that descriptor; its fully resolved path is what the caller checks against the rules.
enum UnixSocketFile {
    /// A socket file this process created: removed on close only if it is still the same file.
    final class Created {
        let path: String
        private let directory: Int32
        private let name: String
        private let device: UInt64
        private let inode: UInt64

        fileprivate init(path: String, directory: Int32, name: String, device: UInt64, inode: UInt64) {
            self.path = path
            self.directory = directory
            self.name = name
            self.device = device
            self.inode = inode
        }

        deinit {
            close(directory)
        }

        /// Removes the file if it is still the one that was created (same device and inode).
        func remove() {
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0,
               UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode {
                unlinkat(directory, name, 0)
            }
        }
    }

    /// A listening socket at `path`, which must lie under `root`. A stale socket of ours at the path
    /// (nobody accepts on it) is replaced; a live one, or any other file, is refused and left alone.
    static func listen(path: String, root: String, mode: mode_t) throws -> (fd: Int32, created: Created) {
        let rootPrefix = root.hasSuffix("/") ? root : root + "/"
        guard path.hasPrefix(rootPrefix) else { throw UnixSocketError("\(path) is outside socket_root \(root)") }
        var components = path.dropFirst(rootPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
            .map(String.init)
        guard let name = components.popLast(), !name.isEmpty,
              !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw UnixSocketError("malformed socket path \(path)")
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
            try clearStaleSocket(directory: directory, name: name, path: path)
            let fd = try bindAndListen(viaDirectory: directory, name: name, path: path, mode: mode)
            var info = stat()
            fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW)
            return (fd, Created(path: path, directory: directory, name: name,
                                device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
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

    private static func clearStaleSocket(directory: Int32, name: String, path: String) throws {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw UnixSocketError("\(path) exists and is not a socket; left untouched")
        }
        guard info.st_uid == geteuid() else {
            throw UnixSocketError("\(path) exists and belongs to another user; left untouched")
        }
        guard !isLive("/proc/self/fd/\(directory)/\(name)") else {
            throw UnixSocketError("\(path) is in use by another session")
        }
        unlinkat(directory, name, 0)
    }

    /// Binds under a temporary name, sets the mode, then links the socket to its real name, so the
    /// path never exists with any other mode and is never taken over if something appeared there.
    private static func bindAndListen(viaDirectory directory: Int32, name: String, path: String,
                                      mode: mode_t) throws -> Int32 {
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
        guard linkat(directory, temporary, directory, name, 0) == 0 else {
            let reason = errno == EEXIST ? "it was created meanwhile by another session" : lastError
            close(fd)
            throw UnixSocketError("cannot listen on \(path): \(reason)")
        }
        return fd
    }

    /// Removes the stale sockets under `root` that this user owns and nobody accepts on, such as
    /// those a crash left behind. Returns their paths. Symlinks are not followed.
    static func removeStaleSockets(under root: String) -> [String] {
        let directory = open(root, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { return [] }
        return removeStale(in: directory, path: root.hasSuffix("/") ? String(root.dropLast()) : root)
    }

    private static func removeStale(in directory: Int32, path: String) -> [String] {
        guard let stream = fdopendir(directory) else {
            close(directory)
            return []
        }
        defer { closedir(stream) }
        var removed: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let child = openat(directory, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { removed += removeStale(in: child, path: "\(path)/\(name)") }
            case S_IFSOCK where info.st_uid == geteuid():
                if !isLive("/proc/self/fd/\(directory)/\(name)") && unlinkat(directory, name, 0) == 0 {
                    removed.append("\(path)/\(name)")
                }
            default:
                continue
            }
        }
        return removed
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
