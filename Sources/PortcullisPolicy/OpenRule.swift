/// One `permit_open` entry: `host:port`, OpenSSH permitopen semantics. The host is `*` or compared
/// exactly (case-insensitively, no DNS); beyond OpenSSH it may be a CIDR block matched against
/// resolved addresses, and the port may be a range.
public struct OpenRule: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case any
        /// Lowercased.
        case exact(String)
        case network(IPNetwork)
    }

    /// The entry as written.
    public let text: String
    /// Where it was written.
    public let location: SourceLocation
    public let host: Host
    public let port: PortSpec

    public init(_ text: String, location: SourceLocation) throws(PatternError) {
        guard let (hostText, portText) = HostPort.split(text, portOptional: false), let hostText else {
            if text.filter({ $0 == ":" }).count > 1, !text.hasPrefix("[") {
                throw PatternError("expected host:port (write an IPv6 host in brackets: [::1]:port)")
            }
            throw PatternError("expected host:port")
        }
        if hostText.isEmpty { throw PatternError("empty host (write *:port for any host)") }
        if hostText == "*" {
            host = .any
        } else if hostText.utf8.contains(UInt8(ascii: "/")) {
            switch IPNetwork.parse(hostText) {
            case .success(let network): host = .network(network)
            case .failure(let error): throw error
            }
        } else if hostText.utf8.contains(UInt8(ascii: "*")) || hostText.utf8.contains(UInt8(ascii: "?")) {
            throw PatternError("host globs are not supported in permit_open; use * for any host or a CIDR block")
        } else {
            host = .exact(hostText.lowercased())
        }
        self.port = try PortSpec(portText)
        self.text = text
        self.location = location
    }

    /// `FILE:LINE PATTERN`, the name a granted decision carries.
    public var description: String { "\(location) \(text)" }

    /// Whether the host string as requested matches without resolving it (a CIDR rule matches
    /// only a literal IP inside it).
    func matchesRequestedHost(_ requested: String) -> Bool {
        switch host {
        case .any: true
        case .exact(let name): requested.lowercased() == name
        case .network(let network): IPAddress(requested).map(network.contains) ?? false
        }
    }
}
