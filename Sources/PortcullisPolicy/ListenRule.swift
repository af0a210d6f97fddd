/// One `permit_listen` entry: `port` or `host:port`, OpenSSH permitlisten semantics.
/// The host is a `*`/`?` glob against the host string the client sent, with ASCII letters
/// compared case-insensitively (as OpenSSH lowercases the request; a pattern with upper-case
/// letters, which OpenSSH would never match, is refused). An empty host (`:8080`) matches only the
/// empty host, which `ssh -R :8080` and `ssh -R '*:8080'` send; a bare port allows any host.
/// The port is a number, `*`, or a range.
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
        if host == nil, portText.utf8.contains(UInt8(ascii: "/")) {
            throw PatternError("expected port or host:port (OpenSSH's host/port form is not accepted: write host:port)")
        }
        if let host, host.contains(where: { $0.isASCII && $0.isUppercase }) {
            throw PatternError("upper-case letters in host \"\(host)\" (requests are compared in lower case, so this would never match: write \"\(host.lowercased())\")")
        }
        self.port = try PortSpec(portText)
        self.text = text
        self.location = location
        self.host = host
        self.hostGlob = try host.map { (host) throws(PatternError) in try Glob(host, caseInsensitive: true) }
    }

    /// What a decision this rule grants carries.
    public var grant: Grant { Grant(location: location, pattern: text) }

    /// `FILE:LINE PATTERN`.
    public var description: String { grant.description }

    func matchesHost(_ requested: String) -> Bool {
        hostGlob?.matches(requested) ?? true
    }
}
