import Foundation
import PortcullisAudit

/// The control socket's protocol (docs/control-protocol.md): one JSON object per line each way,
/// `{"v":1,"cmd":"status"}` in, `{"v":1,"ok":true,...}` or `{"v":1,"ok":false,"error":"..."}` out.
public enum ControlProtocol {
    /// The version this build speaks.
    public static let version = 1
    /// The longest request line read, newline excluded; a longer one is refused and the connection closed.
    public static let maxLineBytes = 16 * 1024

    /// What a client asks.
    public enum Command: Equatable, Sendable {
        case status
        /// Every session, or those of one key.
        case sessions(key: String?)
        case disconnect(Target)
        case reload
    }

    /// Which sessions `disconnect` ends.
    public enum Target: Equatable, Sendable {
        case session(UInt64)
        case key(String)
    }

    /// A request that cannot be taken as sent, and why.
    public struct RequestError: Error, Equatable, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads one request line (without its newline).
    public static func parse(_ line: Data) -> Result<Command, RequestError> {
        guard line.count <= maxLineBytes else {
            return .failure(RequestError("request longer than \(maxLineBytes) bytes"))
        }
        // The project's strict parser: `1.0` is not the integer 1, and a field given twice is refused
        // rather than one of its values silently chosen.
        guard case .object(let members)? = try? JSONValue.parse(line) else {
            return .failure(RequestError("request is not a JSON object on one line"))
        }
        var object: [String: Scalar] = [:]
        for member in members {
            guard object[member.key] == nil else {
                return .failure(RequestError("field \"\(member.key)\" given twice"))
            }
            object[member.key] = Scalar(member.value)
        }
        let known: Set<String> = ["v", "cmd", "key", "session"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return .failure(RequestError("unknown field \"\(unknown)\""))
        }
        guard let v = integer(object["v"]) else {
            return .failure(RequestError("missing \"v\": the protocol version (\(version))"))
        }
        guard v == Int64(version) else {
            return .failure(RequestError("protocol version \(v) is not supported (this daemon speaks \(version))"))
        }
        guard case .string(let cmd)? = object["cmd"] else { return .failure(RequestError("missing \"cmd\"")) }
        var key: String?
        if let value = object["key"] {
            guard case .string(let text) = value, !text.isEmpty else {
                return .failure(RequestError("\"key\" must be a key name"))
            }
            key = text
        }
        var session: UInt64?
        if let value = object["session"] {
            guard let number = integer(value), number > 0 else {
                return .failure(RequestError("\"session\" must be a session id (a positive integer)"))
            }
            session = UInt64(number)
        }
        func only(_ allowed: Set<String>) -> RequestError? {
            let given = Set(object.keys).subtracting(["v", "cmd"])
            guard let extra = given.subtracting(allowed).sorted().first else { return nil }
            return RequestError("\"\(extra)\" does not apply to \(cmd)")
        }
        switch cmd {
        case "status":
            if let error = only([]) { return .failure(error) }
            return .success(.status)
        case "sessions":
            if let error = only(["key"]) { return .failure(error) }
            return .success(.sessions(key: key))
        case "disconnect":
            switch (session, key) {
            case (let id?, nil): return .success(.disconnect(.session(id)))
            case (nil, let name?): return .success(.disconnect(.key(name)))
            default: return .failure(RequestError("disconnect needs exactly one of \"session\" and \"key\""))
            }
        case "reload":
            if let error = only([]) { return .failure(error) }
            return .success(.reload)
        default:
            return .failure(RequestError("unknown command \"\(cmd)\" (status, sessions, disconnect, reload)"))
        }
    }

    /// A JSON integer (not a boolean, not a fraction, not a string).
    private static func integer(_ value: Scalar?) -> Int64? {
        if case .integer(let number)? = value { return number }
        return nil
    }

    /// A request field's value, as far as a request can use it.
    private enum Scalar {
        case integer(Int64)
        case string(String)
        case other

        /// Strict: `true` is not an integer, nor are `1.5` and `1.0`.
        init(_ value: JSONValue) {
            switch value {
            case .int(let number): self = .integer(number)
            case .string(let text): self = .string(text)
            default: self = .other
            }
        }
    }

    /// The line a client sends for `command`.
    public static func request(_ command: Command) -> Data {
        var object: [String: Any] = ["v": version]
        switch command {
        case .status: object["cmd"] = "status"
        case .sessions(let key):
            object["cmd"] = "sessions"
            if let key { object["key"] = key }
        case .disconnect(.session(let id)):
            object["cmd"] = "disconnect"
            object["session"] = id
        case .disconnect(.key(let key)):
            object["cmd"] = "disconnect"
            object["key"] = key
        case .reload: object["cmd"] = "reload"
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return data + Data("\n".utf8)
    }

    /// The encoder both ends use: snake_case keys, sorted, one line.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// One response line.
    public static func line(_ response: ControlResponse) -> Data {
        ((try? encoder.encode(response)) ?? Data(#"{"ok":false,"error":"cannot encode the response","v":1}"#.utf8))
            + Data("\n".utf8)
    }
}

/// One response: `ok` and, by command, `status`, `sessions` (sessions, disconnect) or `reload`;
/// `error` when not ok.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var v = ControlProtocol.version
    public var ok: Bool
    public var error: String?
    public var status: ControlStatus?
    public var sessions: [ControlSession]?
    public var reload: ControlReload?

    public init(ok: Bool, error: String? = nil, status: ControlStatus? = nil, sessions: [ControlSession]? = nil,
                reload: ControlReload? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.sessions = sessions
        self.reload = reload
    }

    public static func failure(_ error: String) -> ControlResponse { ControlResponse(ok: false, error: error) }
}

/// A session as `policyctl sessions` shows it.
public struct ControlSession: Codable, Sendable, Equatable {
    public var id: UInt64
    /// The key's name; nil until it authenticates.
    public var key: String?
    public var user: String?
    public var client: String
    public var started: String
    /// Seconds since it last moved data or opened a channel.
    public var idleSeconds: Double
    public var listens: [String]
    public var channels: [ControlChannel]
}

/// A forwarded channel and its bytes so far.
public struct ControlChannel: Codable, Sendable, Equatable {
    public var id: UInt64
    public var kind: String
    public var target: String
    public var opened: String
    public var bytesToClient: UInt64
    public var bytesFromClient: UInt64
}

/// What runs now, summed over every session.
public struct ControlTotals: Codable, Sendable, Equatable {
    public var sessions: Int
    public var authenticatedSessions: Int
    /// Listens by kind (`tcp-listen`, `streamlocal-listen`).
    public var listens: [String: Int]
    /// Open channels by kind (`tcp-open`, `streamlocal-open`, `tcp-listen`, `streamlocal-listen`).
    public var channels: [String: Int]
    /// Bytes moved since the daemon started, closed channels included.
    public var bytesToClient: UInt64
    public var bytesFromClient: UInt64
}

/// The outcome of a reload.
public struct ControlReload: Codable, Sendable, Equatable {
    public var ok: Bool
    public var message: String
    /// When (RFC 3339); nil in a reload's own answer.
    public var at: String?
    /// The daemon that reloaded.
    public var pid: Int32?

    public init(ok: Bool, message: String, at: String? = nil, pid: Int32? = nil) {
        self.ok = ok
        self.message = message
        self.at = at
        self.pid = pid
    }
}

/// `policyctl status`.
public struct ControlStatus: Codable, Sendable, Equatable {
    public var version: String
    public var libssh: String
    public var pid: Int32
    public var started: String
    public var uptimeSeconds: Double
    public var config: String
    /// SHA-256 of the config file as loaded.
    public var configDigest: String
    public var configLoaded: String
    public var totals: ControlTotals
    /// Audit records accepted but not yet written.
    public var auditBacklog: Int
    public var lastReload: ControlReload?
    /// Cluster mode: where the policy stands; nil: a single proxy.
    public var cluster: ControlCluster?

    public init(version: String, libssh: String, pid: Int32, started: String, uptimeSeconds: Double, config: String,
                configDigest: String, configLoaded: String, totals: ControlTotals, auditBacklog: Int,
                lastReload: ControlReload?) {
        self.version = version
        self.libssh = libssh
        self.pid = pid
        self.started = started
        self.uptimeSeconds = uptimeSeconds
        self.config = config
        self.configDigest = configDigest
        self.configLoaded = configLoaded
        self.totals = totals
        self.auditBacklog = auditBacklog
        self.lastReload = lastReload
    }
}

/// Times on the control socket: RFC 3339, UTC, to the second.
public enum ControlTime {
    public static func text(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
