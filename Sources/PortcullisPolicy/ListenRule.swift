/// One `permit_listen` entry: `port` or `host:port`, OpenSSH permitlisten semantics.
/// The host is a case-insensitive `*`/`?` glob against the host string the client sent; a bare
/// port allows any host. The port is a number, `*`, or a range.
public struct ListenRule: Sendable, Hashable, CustomStringConvertible {
    /// The entry as written.
    public let text: String
    /// Where it was written.
    public let location: SourceLocation
    /// The host glob, or nil for a bare port (any host).
    public let host: String?
    public let port: PortSpec
    let hostGlob: Glob?

    public init(_ text: String, location: SourceLocation) throws(PatternError) {
        guard let (host, portText) = HostPort.split(text, portOptional: true) else {
            if text.filter({ $0 == ":" }).count > 1, !text.hasPrefix("[") {
                throw PatternError("expected port or host:port (write an IPv6 host in brackets: [::1]:port)")
            }
            throw PatternError("expected port or host:port")
        }
        if let host, host.isEmpty { throw PatternError("empty host (write *:port or a bare port for any host)") }
        self.port = try PortSpec(portText)
        self.text = text
        self.location = location
        self.host = host
        self.hostGlob = try host.map { (host) throws(PatternError) in try Glob(host, caseInsensitive: true) }
    }

    /// `FILE:LINE PATTERN`, the name a granted decision carries.
    public var description: String { "\(location) \(text)" }

    func matchesHost(_ requested: String) -> Bool {
        hostGlob?.matches(requested) ?? true
    }
}
