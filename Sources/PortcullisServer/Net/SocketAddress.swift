#if canImport(Glibc)
import Glibc
#endif

/// A resolved IPv4 or IPv6 address and port, ready for connect().
struct SocketAddress: CustomStringConvertible, @unchecked Sendable {
    var storage: sockaddr_storage
    var length: socklen_t

    /// The numeric host, e.g. `127.0.0.1` or `::1`.
    var host: String { Endpoint(storage)?.host ?? "?" }

    var description: String { Endpoint(storage)?.description ?? "?" }
}
