/// One `permit_open` entry: `host:port`, OpenSSH permitopen semantics. The host is `*` or compared
/// exactly with the host the client sent (byte for byte, as OpenSSH does: `localhost` does not
/// match `LOCALHOST`; no DNS); beyond OpenSSH it may be a CIDR block matched against resolved
/// addresses, and the port may be a range.
public struct OpenRule: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case any
        /// As written.
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
            if !text.utf8.contains(UInt8(ascii: ":")), text.utf8.contains(UInt8(ascii: "/")) {
                throw PatternError("expected host:port (OpenSSH's host/port form is not accepted: write host:port)")
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
            host = .exact(hostText)
        }
        self.port = try PortSpec(portText)
        self.text = text
        self.location = location
    }

    /// What a decision this rule grants carries.
    public var grant: Grant { Grant(location: location, pattern: text) }

    /// `FILE:LINE PATTERN`.
    public var description: String { grant.description }

    /// Whether the host string as requested matches without resolving it (a CIDR rule matches
    /// only a literal IP inside it).
    func matchesRequestedHost(_ requested: String) -> Bool {
        switch host {
        case .any: true
        case .exact(let name): requested.utf8.elementsEqual(name.utf8)
        case .network(let network): IPAddress(requested).map(network.contains) ?? false
        }
    }
}
