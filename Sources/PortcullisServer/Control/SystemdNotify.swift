import Foundation

/// systemd's readiness protocol (sd_notify) without libsystemd: datagrams of `NAME=value` lines
/// to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace).
/// The socket is opened and connected at once (the daemon does so before it drops root); every
/// send is best effort: a failure is reported once, never fatal.
public final class SystemdNotify: @unchecked Sendable {
    /// The $NOTIFY_SOCKET it was opened for.
    public let address: String
    private let fd: Int32
    private let report: @Sendable (String) -> Void
    private let lock = NSLock()
    private var reported = false

    /// Opens the socket $NOTIFY_SOCKET names; nil when it is unset or empty. A socket that
    /// cannot be opened or connected is reported and later sends are dropped.
    public convenience init?(environment: [String: String] = ProcessInfo.processInfo.environment,
                             report: @escaping @Sendable (String) -> Void) {
        guard let address = environment["NOTIFY_SOCKET"], !address.isEmpty else { return nil }
        self.init(address: address, report: report)
    }

    public init(address: String, report: @escaping @Sendable (String) -> Void) {
        self.address = address
        self.report = report
        switch Self.connect(address) {
        case .success(let socket): fd = socket
        case .failure(let error):
            fd = -1
            reported = true
            report("NOTIFY_SOCKET \(address): \(error.description); systemd will not hear that the daemon is ready")
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Sends `message` (one of NotifyMessage's); a failure is reported the first time only.
    public func send(_ message: String) {
        guard fd >= 0 else { return }
        let bytes = Array(message.utf8)
        let sent = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        guard sent < 0 else { return }
        let reason = String(cString: strerror(errno))
        lock.lock()
        let first = !reported
        reported = true
        lock.unlock()
        if first { report("cannot notify systemd at NOTIFY_SOCKET \(address): \(reason) (reported once)") }
    }

    /// A connected datagram socket to `address`, or why not.
    static func connect(_ address: String) -> Result<Int32, ServerError> {
        var name = Array(address.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        guard abstract || name.first == UInt8(ascii: "/") else {
            return .failure(ServerError(description: "expected an absolute path or @name"))
        }
        var sockaddr = sockaddr_un()
        sockaddr.sun_family = sa_family_t(AF_UNIX)
        guard name.count < MemoryLayout.size(ofValue: sockaddr.sun_path), name.count > 1 else {
            return .failure(ServerError(description: "not a usable socket address (\(name.count) bytes)"))
        }
        withUnsafeMutableBytes(of: &sockaddr.sun_path) { raw in
            raw.copyBytes(from: name)
            raw[name.count] = 0
        }
        // An abstract name is exactly its bytes (no NUL after it); a path carries its NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (abstract ? 0 : 1))
        let socket = Foundation.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { return .failure(ServerError(description: "socket: \(String(cString: strerror(errno)))")) }
        let connected = withUnsafePointer(to: &sockaddr) {
            $0.withMemoryRebound(to: Foundation.sockaddr.self, capacity: 1) { Foundation.connect(socket, $0, length) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            return .failure(ServerError(description: "cannot connect: \(reason)"))
        }
        return .success(socket)
    }
}

/// The sd_notify messages the daemon sends, as text (pure: the tests check them).
public enum NotifyMessage {
    /// Ready to serve: listening, with the configuration's key count, and the daemon's pid.
    public static func ready(endpoints: [String], keys: Int, pid: Int32) -> String {
        lines(["READY=1", "STATUS=" + status("listening on \(endpoints.joined(separator: ", ")); \(keys) keys"),
               "MAINPID=\(pid)"])
    }

    /// A reload begins; `monotonicMicroseconds` is CLOCK_MONOTONIC now (systemd wants it with RELOADING=1).
    public static func reloading(monotonicMicroseconds: UInt64) -> String {
        lines(["RELOADING=1", "MONOTONIC_USEC=\(monotonicMicroseconds)", "STATUS=reloading"])
    }

    /// A reload ended: applied with `keys` keys, or rejected for `reason` (its first line is said).
    public static func reloaded(keys: Int) -> String {
        lines(["READY=1", "STATUS=" + status("reloaded: \(keys) keys")])
    }

    public static func reloadRejected(reason: String) -> String {
        let first = reason.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return lines(["READY=1", "STATUS=" + status("reload rejected: \(first)")])
    }

    /// The daemon is stopping, closing `sessions` sessions.
    public static func stopping(sessions: Int) -> String {
        lines(["STOPPING=1", "STATUS=" + status("stopping: closing \(sessions) sessions")])
    }

    /// CLOCK_MONOTONIC in microseconds.
    public static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// `text` as one STATUS value: control characters (a newline would start another field) as
    /// "?", at most 200 characters (systemctl status shows one line).
    static func status(_ text: String) -> String {
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
        return clean.count <= 200 ? clean : String(clean.prefix(199)) + "…"
    }

    private static func lines(_ fields: [String]) -> String { fields.joined(separator: "\n") + "\n" }
}
