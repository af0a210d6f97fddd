import Foundation

/// What a listen is claimed as in the registry, unique cluster-wide.
public enum ClaimTarget: Sendable, Hashable, CustomStringConvertible {
    /// A Unix socket, by its path relative to socket_root (the same on every member).
    case socket(relativePath: String)
    /// A TCP listen, by the host and port the client asked for.
    case tcp(host: String, port: Int)
    /// A published name (`ssh -R NAME:PORT:...`), one per cluster whatever its port.
    case name(String)

    /// The key under the cluster prefix: `claims/socket/REL_PATH` or `claims/tcp/HOST:PORT`.
    public var key: String {
        switch self {
        case .socket(let path): "claims/socket/\(path)"
        case .tcp(let host, let port): "claims/tcp/\(host):\(port)"
        case .name(let name): "names/\(name)"
        }
    }

    public var description: String {
        switch self {
        case .socket(let path): path
        case .tcp(let host, let port): "\(host):\(port)"
        case .name(let name): "name \(name)"
        }
    }
}

/// A claim record, `claims/...`: who serves the listen.
public struct ClaimHolder: Sendable, Equatable, Codable {
    public let proxy: String
    public let session: UInt64
    public let key: String
    public let since: String

    public init(proxy: String, session: UInt64, key: String, since: String) {
        self.proxy = proxy
        self.session = session
        self.key = key
        self.since = since
    }
}

/// A name record, `names/NAME`: who publishes the name, and the port it was published with.
public struct NameRecord: Sendable, Equatable, Codable {
    public let proxy: String
    public let session: UInt64
    public let key: String
    public let port: Int

    public init(proxy: String, session: UInt64, key: String, port: Int) {
        self.proxy = proxy
        self.session = session
        self.key = key
        self.port = port
    }
}

/// A member record, `members/PROXY_ID`.
public struct MemberRecord: Sendable, Equatable, Codable {
    /// Where the other members reach this proxy (`host:port`).
    public let advertise: String
    /// The daemon's public host key line (`ssh-ed25519 AAAA...`).
    public let hostKey: String
    /// When the proxy started (RFC 3339, UTC).
    public let started: String
    /// Its live sessions, as last written.
    public var sessions: Int

    enum CodingKeys: String, CodingKey {
        case advertise, hostKey = "host_key", started, sessions
    }

    public init(advertise: String, hostKey: String, started: String, sessions: Int = 0) {
        self.advertise = advertise
        self.hostKey = hostKey
        self.started = started
        self.sessions = sessions
    }
}

enum RegistryJSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Now, as RFC 3339 UTC with milliseconds.
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }
}

/// The monotonic clock, in seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
