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
}
