import Foundation
import PortcullisAudit
import PortcullisPolicy
import Synchronization
import Testing
import PortcullisTestSupport

/// The chain hash policyctl checks with.
let chainHash: AuditChain.Hash = { SHA256.hex($0) }

/// A clock the test sets; the writer stamps records with it.
final class TestClock: Sendable {
    private let time: Mutex<Date>
    init(_ start: Date) { time = Mutex(start) }
    var now: Date { time.withLock { $0 } }
    func set(_ date: Date) { time.withLock { $0 = date } }
}

/// `2026-11-25T10:MM:SSZ`.
func at(_ minute: Int, _ second: Int = 0) -> Date {
    RFC3339.date(from: String(format: "2026-11-25T10:%02d:%02dZ", minute, second))!
}

/// The fingerprints the scenario's keys have.
enum Fingerprint {
    static let alex = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
    static let blake = "SHA256:Hk3rN1q3tXbB0gkX8i9o2lP9ZyQm5eW4vT7sC6aD1fE"
    static let carol = "SHA256:c4r0lc4r0lc4r0lc4r0lc4r0lc4r0lc4r0lc4r0lc4r0"
    static let mallory1 = "SHA256:m4ll0ry1m4ll0ry1m4ll0ry1m4ll0ry1m4ll0ry1m4l"
    static let mallory2 = "SHA256:m4ll0ry2m4ll0ry2m4ll0ry2m4ll0ry2m4ll0ry2m4l"
}

/// A day of the daemon's life written with the real AuditWriter, as the daemon would write it:
///
/// - session 1: alex-laptop from 127.0.0.1 listens on a socket, is refused 10.0.0.1:22 twice and
///   10.0.0.2:80 once, carries 1048576/2048 bytes over 127.0.0.1:5900, disconnects;
/// - session 2: blake from 192.0.2.10 opens alex's socket (500/7000 bytes), listens on
///   localhost:8080, and is still connected when the daemon stops;
/// - session 3: two unknown keys try to log in as root from 203.0.113.5;
/// - a reload; session 4: alex-laptop is refused a listen on localhost:9000, cut off by the stop;
/// - daemon stop and start; session 5: alex-laptop from 127.0.0.1 listens on api.sock, still open;
/// - session 6: carol's expired key is refused.
final class AuditScenario {
    let log: String
    let clock = TestClock(at(0))
    let writer: AuditWriter
    private(set) var records: [AuditRecord] = []

    init(log: String) throws {
        self.log = log
        let clock = clock
        writer = try AuditWriter(path: log, hash: chainHash, now: { clock.now })
        try writeDay()
    }

    @discardableResult
    func write(_ time: Date, _ event: String, session: UInt64? = nil, _ fields: KeyValuePairs<String, JSONValue> = [:]) throws -> AuditRecord {
        clock.set(time)
        let record = try writer.append(event: event, session: session, fields: fields)
        records.append(record)
        return record
    }

    /// The seqs of the records that satisfy `predicate`, in log order.
    func seqs(where predicate: (AuditRecord) -> Bool) -> [UInt64] { records.filter(predicate).map(\.seq) }

    private func writeDay() throws {
        let socket = "/srv/portcullis/alex-laptop/web.sock"
        let alexRule = "/etc/portcullis/keys.d/alex-laptop.yaml:4"
        try write(at(0), AuditEvent.daemonStart, ["version": "0.1.0", "config": "/etc/portcullis/portcullis.yaml", "keys": 3, "pid": 4242])
        try write(at(0, 1), AuditEvent.staleSocketRemoved, ["path": "/srv/portcullis/alex-laptop/old.sock"])

        try write(at(1), AuditEvent.sessionStart, session: 1, ["client": "127.0.0.1", "client_port": 50312, "server": "127.0.0.1", "server_port": 2222])
        try write(at(1, 1), AuditEvent.auth, session: 1, ["user": "alex", "key": "alex-laptop", "fingerprint": .string(Fingerprint.alex),
                                                          "algorithm": "ssh-ed25519", "decision": "allow"])
        try write(at(1, 2), AuditEvent.forwardRequest, session: 1, ["kind": "streamlocal-listen", "target": .string(socket), "decision": "allow",
                                                                    "rule": .string(alexRule), "pattern": "/srv/portcullis/%k/*.sock"])
        try write(at(1, 2), AuditEvent.forwardBound, session: 1, ["kind": "streamlocal-listen", "target": .string(socket), "bound": .string(socket)])
        for (second, channel, target) in [(3, 3, "10.0.0.1:22"), (4, 4, "10.0.0.1:22"), (5, 5, "10.0.0.2:80")] {
            try write(at(1, second), AuditEvent.forwardRequest, session: 1, [
                "kind": "tcp-open", "target": .string(target), "channel": .int(Int64(channel)), "originator": "127.0.0.1:40000",
                "decision": "deny", "reason": .string("no permit_open rule of key alex-laptop matches \(target)"),
            ])
        }
        try write(at(1, 6), AuditEvent.forwardRequest, session: 1, ["kind": "tcp-open", "target": "127.0.0.1:5900", "channel": 2,
                                                                    "originator": "127.0.0.1:40001", "decision": "allow",
                                                                    "rule": .string(alexRule), "pattern": "127.0.0.1:5900"])
        try write(at(1, 6), AuditEvent.channelOpen, session: 1, ["channel": 2, "kind": "tcp-open", "target": "127.0.0.1:5900", "originator": "127.0.0.1:40001"])
        try write(at(1, 10), AuditEvent.channelClose, session: 1, ["channel": 2, "kind": "tcp-open", "target": "127.0.0.1:5900",
                                                                   "bytes_from_client": 1_048_576, "bytes_to_client": 2048,
                                                                   "duration": 1.503211, "reason": "closed by client"])
        try write(at(1, 20), AuditEvent.sessionEnd, session: 1, ["duration": 20.0, "channels": 1, "bytes_from_client": 1_048_576,
                                                                 "bytes_to_client": 2048, "reason": "client disconnected"])

        try write(at(2), AuditEvent.sessionStart, session: 2, ["client": "192.0.2.10", "client_port": 61000, "server": "127.0.0.1", "server_port": 2222])
        try write(at(2, 1), AuditEvent.auth, session: 2, ["user": "blake", "key": "blake", "fingerprint": .string(Fingerprint.blake),
                                                          "algorithm": "ssh-ed25519", "decision": "allow"])
        try write(at(2, 2), AuditEvent.forwardRequest, session: 2, ["kind": "streamlocal-open", "target": .string(socket), "channel": 1,
                                                                    "originator": "127.0.0.1:9090", "decision": "allow",
                                                                    "rule": "/etc/portcullis/keys.d/blake.yaml:5", "pattern": .string(socket)])
        try write(at(2, 2), AuditEvent.channelOpen, session: 2, ["channel": 1, "kind": "streamlocal-open", "target": .string(socket), "originator": "127.0.0.1:9090"])
        try write(at(2, 30), AuditEvent.channelClose, session: 2, ["channel": 1, "kind": "streamlocal-open", "target": .string(socket),
                                                                   "bytes_from_client": 500, "bytes_to_client": 7000, "duration": 28.0,
                                                                   "reason": "closed by client"])
        try write(at(2, 31), AuditEvent.forwardRequest, session: 2, ["kind": "tcp-listen", "target": "localhost:8080", "decision": "allow",
                                                                     "rule": "/etc/portcullis/keys.d/blake.yaml:6", "pattern": "8080"])
        try write(at(2, 31), AuditEvent.forwardBound, session: 2, ["kind": "tcp-listen", "target": "localhost:8080", "bound": "127.0.0.1:8080"])

        try write(at(3), AuditEvent.sessionStart, session: 3, ["client": "203.0.113.5", "client_port": 40222, "server": "127.0.0.1", "server_port": 2222])
        for fingerprint in [Fingerprint.mallory1, Fingerprint.mallory2] {
            try write(at(3, 1), AuditEvent.auth, session: 3, ["user": "root", "fingerprint": .string(fingerprint), "algorithm": "ssh-rsa",
                                                              "decision": "deny", "reason": "unknown key"])
        }
        try write(at(3, 3), AuditEvent.sessionEnd, session: 3, ["duration": 3.0, "channels": 0, "bytes_from_client": 0, "bytes_to_client": 0,
                                                                "reason": "authentication failed"])

        try write(at(4), AuditEvent.daemonReload, ["outcome": "applied", "keys": 3, "keys_added": ["carol"], "keys_removed": []])

        try write(at(5), AuditEvent.sessionStart, session: 4, ["client": "127.0.0.1", "client_port": 50400, "server": "127.0.0.1", "server_port": 2222])
        try write(at(5, 1), AuditEvent.auth, session: 4, ["user": "alex", "key": "alex-laptop", "fingerprint": .string(Fingerprint.alex),
                                                          "algorithm": "ssh-ed25519", "decision": "allow"])
        try write(at(5, 2), AuditEvent.forwardRequest, session: 4, ["kind": "tcp-listen", "target": "localhost:9000", "decision": "deny",
                                                                    "reason": "no permit_listen rule of key alex-laptop matches localhost:9000"])
        try write(at(6), AuditEvent.daemonStop, ["reason": "SIGTERM", "sessions": 2])
        try write(at(7), AuditEvent.daemonStart, ["version": "0.1.0", "config": "/etc/portcullis/portcullis.yaml", "keys": 3, "pid": 4343])

        try write(at(8), AuditEvent.sessionStart, session: 5, ["client": "127.0.0.1", "client_port": 50500, "server": "127.0.0.1", "server_port": 2222])
        try write(at(8, 1), AuditEvent.auth, session: 5, ["user": "alex", "key": "alex-laptop", "fingerprint": .string(Fingerprint.alex),
                                                          "algorithm": "ssh-ed25519", "decision": "allow"])
        let api = "/srv/portcullis/alex-laptop/api.sock"
        try write(at(8, 2), AuditEvent.forwardRequest, session: 5, ["kind": "streamlocal-listen", "target": .string(api), "decision": "allow",
                                                                    "rule": .string(alexRule), "pattern": "/srv/portcullis/%k/*.sock"])
        try write(at(8, 2), AuditEvent.forwardBound, session: 5, ["kind": "streamlocal-listen", "target": .string(api), "bound": .string(api)])

        try write(at(9), AuditEvent.sessionStart, session: 6, ["client": "198.51.100.7", "client_port": 33000, "server": "127.0.0.1", "server_port": 2222])
        try write(at(9, 1), AuditEvent.auth, session: 6, ["user": "carol", "key": "carol", "fingerprint": .string(Fingerprint.carol),
                                                          "algorithm": "ssh-ed25519", "decision": "deny",
                                                          "reason": "key carol expired at 2026-11-01T00:00:00Z"])
        try write(at(9, 2), AuditEvent.sessionEnd, session: 6, ["duration": 2.0, "channels": 0, "bytes_from_client": 0, "bytes_to_client": 0,
                                                                "reason": "authentication failed"])
    }
}

extension Installation {
    /// Runs `policyctl audit SUBCOMMAND... --config CONFIG ARGS` (the config option after the subcommand).
    func audit(_ arguments: [String]) throws -> ProcessResult {
        let subcommands = ["show", "summary", "follow", "verify"]
        let split = arguments.first.map(subcommands.contains) == true ? 1 : 0
        return try run(policyctlBinary, ["audit"] + arguments[..<split] + ["--config", config] + arguments[split...])
    }

    /// Points the config's audit_log at `path`.
    func setAuditLog(_ path: String) throws {
        try (try String(contentsOfFile: config, encoding: .utf8) + "audit_log: \(path)\n").write(toFile: config, atomically: true, encoding: .utf8)
    }
}

/// Runs `policyctl audit ARGS`.
func audit(_ arguments: [String]) throws -> ProcessResult { try run(policyctlBinary, ["audit"] + arguments) }

/// The seqs of the records in `--json` output, which must be all records.
func seqs(_ output: String) throws -> [UInt64] {
    try output.split(separator: "\n").map { try AuditRecord(line: Array($0.utf8)).seq }
}

/// The lines of a file, without their newlines.
func fileLines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
}

/// Waits until `condition` holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        if try condition() { return true }
        usleep(10_000)
    } while Date() < deadline
    return try condition()
}
