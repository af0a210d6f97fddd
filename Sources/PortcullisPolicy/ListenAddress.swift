/// An address the SSH server accepts connections on: `host:port` or `[v6]:port`.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    /// 0-65535; 0 lets the kernel choose.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; IPv6 hosts must be bracketed.
    public init(_ text: String) throws(PatternError) {
        guard let (host, portText) = HostPort.split(text, portOptional: false), let host, !host.isEmpty,
              !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), port <= 65535 else {
            throw PatternError("expected host:port or [v6]:port")
        }
        self.init(host: host, port: port)
    }

    public var description: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
