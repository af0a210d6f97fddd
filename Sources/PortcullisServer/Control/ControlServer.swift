import Foundation

/// The control socket `policyctl status`, `sessions`, `disconnect` and `reload` talk to: a Unix
/// stream socket, mode 0600 (0660 with control_group), one thread accepting and one per client,
/// so that a slow or silent client holds nothing but its own thread, and only until its timeout.
public final class ControlServer: @unchecked Sendable {
    /// Answers one request; called on the client's thread.
    public typealias Handler = @Sendable (ControlProtocol.Command) -> ControlResponse

    /// Seconds a client may take to send its next request before it is disconnected.
    public static let idleTimeout = 30.0
    /// Seconds a client may take to read a response before it is disconnected.
    public static let sendTimeout = 5.0
    /// Clients served at once; one more is told so and disconnected.
    public static let maxClients = 16

    public let path: String
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let lock = NSLock()
    private var clients = 0
    private var stopped = false

    /// Binds `path`: its parent directory is made (0755) if missing; a socket left by a crash
    /// (nobody answers on it) is replaced; a live one (another daemon answers) or anything that is
    /// not a socket is an error. `group`: the socket's group (mode 0660), else mode 0600. `owner`:
    /// the user the daemon is about to become (root starts it with `user:`): the socket is given
    /// to it. The mode comes from the umask at bind and ownership is changed without following a
    /// symbolic link, so whoever can write the directory cannot make root change another file by
    /// swapping the path; a directory made here stays root's.
    public init(path: String, group: gid_t? = nil, owner: uid_t? = nil) throws {
        self.path = path
        try Self.prepare(path, owner: owner)
        let old = umask(group == nil ? 0o177 : 0o117)
        let fd: Int32
        do {
            fd = try Socket.listenUnix(path: path)
        } catch {
            umask(old)
            throw ServerError(description: "control_socket \(path): cannot bind: \(error)")
        }
        umask(old)
        if owner != nil || group != nil, lchown(path, owner ?? uid_t.max, group ?? gid_t.max) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(path)
            throw ServerError(description: "control_socket \(path): cannot give it to "
                              + [owner.map { "uid \($0)" }, group.map { "group \($0)" }].compactMap { $0 }.joined(separator: " and ")
                              + ": \(reason)")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(fd)
            unlink(path)
            throw ServerError(description: "control_socket \(path): pipe failed")
        }
        fds.forEach(Socket.makeNonBlocking)
        listener = fd
        wake = (fds[0], fds[1])
    }

    /// Whether another process answers on the Unix socket at `path` now.
    public static func answers(_ path: String) -> Bool {
        guard let fd = try? Socket.connectUnix(path: path) else { return false }
        close(fd)
        return true
    }

    /// Why `path` cannot be the control socket now (its directory is one others may write,
    /// another daemon answers on it, something else is there, its directory cannot be made), or nil.
    public static func problem(_ path: String, owner: uid_t? = nil) -> String? {
        let parent = (path as NSString).deletingLastPathComponent
        var directory = stat()
        // As sshd's StrictModes: whoever may write the directory could rename the socket away and
        // answer policyctl in the daemon's place, or swap the path between bind and chown.
        if stat(parent, &directory) == 0, directory.st_mode & S_IFMT == S_IFDIR {
            if directory.st_uid != 0 && directory.st_uid != geteuid() && directory.st_uid != owner {
                return "\(parent) belongs to uid \(directory.st_uid), not to root or the daemon's user: "
                    + "its owner could answer policyctl in the daemon's place"
            }
            if directory.st_mode & 0o022 != 0 {
                return "\(parent) may be written by \(directory.st_mode & 0o002 != 0 ? "others" : "its group") "
                    + "(mode \(String(directory.st_mode & 0o7777, radix: 8))): whoever can write it could answer "
                    + "policyctl in the daemon's place; use a directory only root writes, like /run/portcullis"
            }
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            if info.st_mode & S_IFMT != S_IFSOCK { return "\(path) exists and is not a socket" }
            if answers(path) { return "another portcullisd answers on \(path)" }
            return nil
        }
        if stat(parent, &directory) == 0 {
            return directory.st_mode & S_IFMT == S_IFDIR ? nil : "\(parent) is not a directory"
        }
        return nil
    }

    private static func prepare(_ path: String, owner: uid_t?) throws {
        if let problem = problem(path, owner: owner) { throw ServerError(description: "control_socket \(path): \(problem)") }
        let parent = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw ServerError(description: "control_socket \(path): cannot make \(parent): \(error.localizedDescription)")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            // A socket nobody answers on: left by a daemon that crashed.
            unlink(path)
        }
    }

    /// Starts accepting; every request is answered by `handler`.
    public func start(_ handler: @escaping Handler) {
        let thread = Thread { [self] in acceptLoop(handler) }
        thread.name = "portcullis-control"
        thread.start()
    }

    /// Stops accepting and removes the socket file. Clients being served finish their request.
    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        unlink(path)
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    private func acceptLoop(_ handler: @escaping Handler) {
        var polls = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                     pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&polls, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || polls[1].revents != 0 { break }
            guard polls[0].revents != 0 else { continue }
            accepting: while true {
                let fd: Int32
                switch Socket.accept(listener) {
                case .connection(let accepted):
                    fd = accepted
                case .none:
                    break accepting
                case .exhausted:
                    // Out of descriptors: the listener stays readable; pause (a stop still wakes
                    // it) instead of spinning on it.
                    var wakeOnly = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
                    _ = poll(&wakeOnly, 1, 250)
                    break accepting
                }
                lock.lock()
                let admitted = clients < Self.maxClients && !stopped
                if admitted { clients += 1 }
                lock.unlock()
                guard admitted else {
                    _ = Self.send(fd, ControlProtocol.line(.failure("too many control clients at once (at most \(Self.maxClients))")))
                    close(fd)
                    continue
                }
                let thread = Thread { [self] in
                    serve(fd, handler)
                    close(fd)
                    lock.lock()
                    clients -= 1
                    lock.unlock()
                }
                thread.name = "portcullis-control-client"
                thread.start()
            }
        }
        close(listener)
        close(wake.read)
        close(wake.write)
    }

    /// Answers requests on `fd` until the client hangs up, stays silent past `idleTimeout`, stops
    /// reading, or sends a line that is too long.
    private func serve(_ fd: Int32, _ handler: Handler) {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        // The whole of a request must arrive within idleTimeout: a byte now and then does not
        // hold a client slot for ever.
        var deadline = Date().addingTimeInterval(Self.idleTimeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                if line.count > ControlProtocol.maxLineBytes {
                    _ = Self.send(fd, ControlProtocol.line(.failure("request longer than \(ControlProtocol.maxLineBytes) bytes")))
                    return
                }
                buffer = Data(buffer[(newline + 1)...])
                let response: ControlResponse
                switch ControlProtocol.parse(Data(line)) {
                case .success(let command): response = handler(command)
                case .failure(let error): response = .failure(error.description)
                }
                guard Self.send(fd, ControlProtocol.line(response)) else { return }
                deadline = Date().addingTimeInterval(Self.idleTimeout)
                continue
            }
            if buffer.count > ControlProtocol.maxLineBytes {
                _ = Self.send(fd, ControlProtocol.line(.failure("request longer than \(ControlProtocol.maxLineBytes) bytes")))
                return
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return }
            let ready = poll(&poller, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return }
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard count > 0 else { return }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes all of `data`, waiting at most `sendTimeout` for the client to take it.
    private static func send(_ fd: Int32, _ data: Data) -> Bool {
        let deadline = Date().addingTimeInterval(sendTimeout)
        var offset = 0
        return data.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written > 0 {
                    offset += written
                    continue
                }
                guard written < 0, errno == EAGAIN || errno == EINTR else { return false }
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { return false }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&poller, 1, Int32(left * 1000) + 1)
            }
            return true
        }
    }
}
