import CLibSSH
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a socket, with what was attempted and `strerror`'s words.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    /// getaddrinfo's error (`EAI_NONAME`, ...) when a name did not resolve; nil otherwise.
    public var resolverCode: Int32?

    init(_ operation: String, code: Int32 = errno, resolverCode: Int32? = nil) {
        self.operation = operation
        self.code = code
        self.resolverCode = resolverCode
    }

    /// What was attempted and why it failed (`code` 0: the operation's text says it all).
    public var description: String { code == 0 ? operation : "\(operation): \(String(cString: strerror(code)))" }
}

/// Thin wrappers over the POSIX socket calls the server makes. Every socket returned is
/// non-blocking and close-on-exec.
enum Socket {
    /// Connections a forwarded listener lets wait to be accepted.
    static let backlog: Int32 = 128
    /// Connections the SSH listener lets wait: a burst of logins (or a flood the daemon sheds only
    /// once it has accepted them) must not overflow the kernel's queue, which drops connections
    /// silently (with SYN cookies the client even believes it is connected). The kernel caps it
    /// at net.core.somaxconn.
    static let sshBacklog: Int32 = 4096

    /// Listening TCP sockets on every address of `hosts` (numeric; empty for every address), all on
    /// one port: `port`, or when it is 0, one the kernel chooses, or one from `ranges` if given.
    /// Addresses this host lacks (no IPv6, say) are skipped while at least one binds.
    static func listenTCP(hosts: [String], port: Int, ranges: [ClosedRange<Int>]? = nil,
                          backlog: Int32 = backlog) throws -> [Int32] {
        if port != 0 { return try bindAll(hosts, port: port, backlog: backlog) }
        var lastError = SocketError("bind", code: EADDRINUSE)
        for attempt in 0..<64 {
            let candidate = ranges.map { ranges in
                let range = ranges.randomElement()!
                return Int.random(in: range)
            } ?? 0
            do {
                if candidate != 0 || hosts.count == 1 { return try bindAll(hosts, port: candidate, backlog: backlog) }
                // Let the kernel choose on the first address, then take the same port on the rest.
                let first = try bindAll([hosts[0]], port: 0, backlog: backlog)
                let chosen = first.first.flatMap(Endpoint.local(of:))?.port ?? 0
                do {
                    return first + (try bindAll(Array(hosts.dropFirst()), port: chosen, backlog: backlog))
                } catch {
                    first.forEach { close($0) }
                    throw error
                }
            } catch let error as SocketError where error.code == EADDRINUSE && attempt < 63 {
                lastError = error
            }
        }
        throw lastError
    }

    /// A listening TCP socket on `host`:`port`.
    static func listenTCP(host: String, port: Int, backlog: Int32 = backlog) throws -> [Int32] {
        try listenTCP(hosts: [host], port: port, backlog: backlog)
    }

    private static func bindAll(_ hosts: [String], port: Int, backlog: Int32) throws -> [Int32] {
        var fds: [Int32] = []
        var unavailable: SocketError?
        for host in hosts {
            do {
                fds += try bindEach(host: host, port: port, backlog: backlog)
            } catch let error as SocketError where error.code == EADDRNOTAVAIL || error.code == EAFNOSUPPORT {
                unavailable = error
            } catch {
                fds.forEach { close($0) }
                throw error
            }
        }
        if fds.isEmpty, let unavailable { throw unavailable }
        return fds
    }

    private static func bindEach(host: String, port: Int, backlog: Int32) throws -> [Int32] {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw SocketError("resolve \(host)", code: rc == EAI_SYSTEM ? errno : EINVAL)
        }
        defer { freeaddrinfo(list) }
        var fds: [Int32] = []
        var chosenPort = port
        var entry: UnsafeMutablePointer<addrinfo>? = first
        do {
            while let info = entry {
                entry = info.pointee.ai_next
                let fd = try make(family: info.pointee.ai_family)
                fds.append(fd)
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if info.pointee.ai_family == AF_INET6 {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
                }
                let address = UnsafeMutableRawPointer(info.pointee.ai_addr!)
                if chosenPort != 0 { setPort(address, family: info.pointee.ai_family, port: chosenPort) }
                guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                    throw SocketError("bind \(Endpoint(host: host, port: chosenPort))")
                }
                guard listen(fd, backlog) == 0 else { throw SocketError("listen") }
                if chosenPort == 0 { chosenPort = Endpoint.local(of: fd)?.port ?? 0 }
            }
        } catch {
            fds.forEach { close($0) }
            throw error
        }
        return fds
    }

    /// A listening Unix socket at `path`. Fails if anything exists at `path`.
    static func listenUnix(path: String) throws -> Int32 {
        let fd = try make(family: AF_UNIX)
        do {
            try withUnixAddress(path) { address, length in
                guard bind(fd, address, length) == 0 else { throw SocketError("bind \(path)") }
            }
            guard listen(fd, backlog) == 0 else { throw SocketError("listen \(path)") }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// `host`:`port` when `host` is a numeric IPv4 or IPv6 address (no resolver involved), else nil.
    static func numericAddress(host: String, port: Int) -> SocketAddress? {
        try? resolve(host: host, port: port, numericOnly: true).first
    }

    /// The addresses `host`:`port` resolves to, in the resolver's order. A numeric host resolves
    /// without asking DNS; a name is resolved by a blocking call (HostResolver runs it off the
    /// event loops).
    static func resolve(host: String, port: Int, numericOnly: Bool = false) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            throw SocketError("resolve \(host): \(String(cString: gai_strerror(rc)))", code: 0, resolverCode: rc)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let info = entry {
            entry = info.pointee.ai_next
            var storage = sockaddr_storage()
            memcpy(&storage, info.pointee.ai_addr, Int(info.pointee.ai_addrlen))
            addresses.append(SocketAddress(storage: storage, length: info.pointee.ai_addrlen))
        }
        return addresses
    }

    /// Starts a non-blocking connection to `address`. Returns the socket and whether it is already
    /// connected; otherwise wait for it to become writable and ask `connectResult`.
    static func startConnect(_ address: SocketAddress) throws -> (fd: Int32, connected: Bool) {
        let fd = try make(family: Int32(address.storage.ss_family))
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
        }
        if rc == 0 { return (fd, true) }
        let code = errno
        guard code == EINPROGRESS else {
            close(fd)
            throw SocketError("connect \(address)", code: code)
        }
        return (fd, false)
    }

    /// Connects to the Unix socket at `path` (a Unix connect completes or fails at once).
    static func connectUnix(path: String) throws -> Int32 {
        let fd = try make(family: AF_UNIX)
        do {
            try withUnixAddress(path) { address, length in
                guard connect(fd, address, length) == 0 else { throw SocketError("connect \(path)") }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The outcome of a non-blocking connect once the socket is writable: 0 or an errno value.
    static func connectResult(_ fd: Int32) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }

    /// What one accept() on a non-blocking listener gave.
    enum Accepted {
        /// A connection, non-blocking and close-on-exec.
        case connection(Int32)
        /// Nothing pending (or a connection that went away before it was taken).
        case none
        /// The process or the system is out of descriptors or memory (`errno`): stop taking
        /// connections for a moment instead of spinning on a listener that stays readable.
        case exhausted(Int32)
    }

    /// Accepts one pending connection.
    static func accept(_ listener: Int32) -> Accepted {
        while true {
            let fd = portcullis_accept(listener)
            if fd >= 0 { return .connection(fd) }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO:
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                return .exhausted(errno)
            default:
                return .none
            }
        }
    }

    /// Makes the next close() of a TCP socket reset the connection (RST) instead of ending it
    /// cleanly (FIN): the peer reads an error, not an end of file it would take for completion.
    static func setResetOnClose(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    /// Sets O_NONBLOCK and FD_CLOEXEC on `fd`.
    static func makeNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Sends small writes at once (no Nagle): every write the server makes on an SSH connection is
    /// one or more whole packets, and a channel open or a short reply held back until the previous
    /// packet is acknowledged waits for the peer's delayed ACK (40 ms on Linux).
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func make(family: Int32) throws -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw SocketError("socket") }
        return fd
    }

    private static func setPort(_ address: UnsafeMutableRawPointer, family: Int32, port: Int) {
        if family == AF_INET {
            address.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port = UInt16(port).bigEndian
        } else if family == AF_INET6 {
            address.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port = UInt16(port).bigEndian
        }
    }

    private static func withUnixAddress<T>(_ path: String,
                                           _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) throws -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw SocketError("socket path \(path)", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
