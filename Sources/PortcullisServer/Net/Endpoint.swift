#if canImport(Glibc)
import Glibc
#endif
import PortcullisPolicy

/// A peer or local address as the audit log and the policy see it: an IP address and a port.
/// The same value the config's `listen` entries parse into.
public typealias Endpoint = ListenAddress

extension ListenAddress {
    /// The address of `storage`, if it is IPv4 or IPv6 (an IPv4-mapped IPv6 address reads as IPv4).
    init?(_ storage: sockaddr_storage) {
        var storage = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            let (address, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ($0.pointee.sin_addr, $0.pointee.sin_port) }
            }
            var addr = address
            inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
            self.init(host: Self.text(buffer), port: Int(UInt16(bigEndian: port)))
        case AF_INET6:
            let (address, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { ($0.pointee.sin6_addr, $0.pointee.sin6_port) }
            }
            var addr = address
            inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
            var host = Self.text(buffer)
            if host.hasPrefix("::ffff:"), host.contains(".") { host.removeFirst(7) }
            self.init(host: host, port: Int(UInt16(bigEndian: port)))
        default:
            return nil
        }
    }

    /// The remote address of a connected socket.
    static func peer(of fd: Int32) -> Endpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return rc == 0 ? Endpoint(storage) : nil
    }

    /// The local address of a bound socket.
    static func local(of fd: Int32) -> Endpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 ? Endpoint(storage) : nil
    }

    /// The NUL-terminated text `inet_ntop` left in `buffer`.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
