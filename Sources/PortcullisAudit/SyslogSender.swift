import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Sends audit lines to the local syslog socket (`/dev/log`, where journald or rsyslog listen),
/// as `<PRI>Mmm dd hh:mm:ss TAG[PID]: LINE` datagrams with facility authpriv, severity info.
///
/// The file stays the record of truth: a message the socket does not take within a second is
/// counted as lost (and reported), it never holds the writer up for longer.
public final class SyslogSender: @unchecked Sendable {
    /// authpriv (10) * 8 + info (6).
    static let priority = 86

    public let socketPath: String
    private let tag: String
    private let report: @Sendable (String) -> Void
    private var fd: Int32 = -1
    private var failing = false
    /// Messages the socket did not take.
    public private(set) var lost = 0

    public init(socketPath: String = "/dev/log", tag: String = "portcullisd",
                report: @escaping @Sendable (String) -> Void) {
        self.socketPath = socketPath
        self.tag = tag
        self.report = report
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Sends one line. Called from one thread at a time (the audit writer's).
    public func send(_ line: [UInt8]) {
        let message = Array(header().utf8) + line
        for attempt in 0..<2 {
            if fd < 0 { connect() }
            guard fd >= 0 else { break }
            let sent = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent == message.count {
                if failing {
                    failing = false
                    report("syslog \(socketPath) takes audit records again (\(lost) lost meanwhile)")
                }
                return
            }
            // The listener restarted (ECONNREFUSED, ENOTCONN): connect afresh once.
            let error = errno
            Glibc.close(fd)
            fd = -1
            errno = error
            if attempt == 0 && error != EAGAIN && error != EWOULDBLOCK { continue }
            break
        }
        lost += 1
        if !failing {
            failing = true
            report("cannot send audit records to syslog \(socketPath): \(String(cString: strerror(errno))); the audit file still has them")
        }
    }

    private func header() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%b %e %H:%M:%S", &parts)
        let stamp = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "<\(Self.priority)>\(stamp) \(tag)[\(getpid())]: "
    }

    private func connect() {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { return }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(socket)
            return
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            return
        }
        fd = socket
    }
}
