import PortcullisPolicy

/// The addresses a remote TCP listen binds, as OpenSSH's GatewayPorts decides them from the host
/// string the client sent (after the rules matched that string as sent).
enum ListenHosts {
    static func bind(requested host: String, gatewayPorts: GatewayPorts) -> [String] {
        let loopback = ["127.0.0.1", "::1"]
        let wildcard = ["0.0.0.0", "::"]
        switch gatewayPorts {
        case .no:
            return host == "127.0.0.1" || host == "::1" ? [host] : loopback
        case .yes:
            return wildcard
        case .clientspecified:
            switch host.lowercased() {
            case "", "*": return wildcard
            case "localhost": return loopback
            default: return [host]
            }
        }
    }

    /// Listening sockets on `hosts` (what ``bind(requested:gatewayPorts:)`` gave) at `port`. A
    /// fixed port is served on each address that can be bound, as sshd does (`ssh -R 8080` on
    /// localhost whose [::1]:8080 is taken gets 127.0.0.1:8080); it fails only if none can be, with
    /// the first address's error. A dynamic port (0) is one port on every address, from
    /// `dynamicRanges` (nil: any unprivileged port).
    static func listen(hosts: [String], port: Int, dynamicRanges: [ClosedRange<Int>]?) throws -> [Int32] {
        guard port != 0, hosts.count > 1 else {
            return try Socket.listenTCP(hosts: hosts, port: port, ranges: port == 0 ? dynamicRanges : nil)
        }
        var fds: [Int32] = []
        var firstError: (any Error)?
        for host in hosts {
            do {
                fds += try Socket.listenTCP(host: host, port: port)
            } catch {
                firstError = firstError ?? error
            }
        }
        if fds.isEmpty, let firstError { throw firstError }
        return fds
    }
}
