import Foundation
import PortcullisAudit
import PortcullisPolicy
import PortcullisServer

/// The daemon's audit trail: the log file (with its chain), optionally syslog, and the
/// daemon-level records (start, reload, stop).
final class DaemonAudit: Sendable {
    let trail: AuditTrail
    /// The id the first session of this run gets: unique across restarts, because it follows the
    /// seq of this run's daemon-start record and every session writes at least one record.
    let firstSessionID: UInt64

    /// Opens the log (creating its directory, mode 0750, if missing), recovers a torn last line a
    /// crash left, and writes daemon-start.
    init(config: PolicyConfig, configPath: String, listen: [ListenAddress], syslogSocket: String,
         log: DaemonLog) throws {
        let report: @Sendable (String) -> Void = { log.line($0) }
        var writer: AuditWriter?
        if let path = config.auditLog {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            if !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o750])
            }
            // A torn last line (a crash mid-write) is moved aside and noted, so the daemon starts.
            // Every record names this proxy (proxy_id), so the logs of several can be read together.
            writer = try AuditWriter(path: path, hash: { SHA256.hex($0) }, recoverTornLine: true, proxy: config.proxyID)
        }
        let syslog = config.auditSyslog ? SyslogSender(socketPath: syslogSocket, report: report) : nil
        if let (recovery, record) = writer?.recovered {
            switch recovery.action {
            case .movedAside:
                log.line("audit log \(recovery.file) ended in a torn line (\(recovery.reason)): its \(recovery.byteCount) bytes "
                         + "from offset \(recovery.offset) were moved to \(recovery.sideFile ?? "?"); recorded as seq \(record.seq)")
            case .completed:
                log.line("audit log \(recovery.file) ended in a whole record without its newline: newline added; "
                         + "recorded as seq \(record.seq)")
            }
            syslog?.send(record.line)
        }
        let start = try writer?.append(event: AuditEvent.daemonStart, fields: [
            JSONMember("version", .string(portcullisVersion)),
            JSONMember("libssh", .string(LibSSH.build)),
            JSONMember("config", .string(configPath)),
            JSONMember("config_digest", .string(config.digest)),
            JSONMember("listen", .array(listen.map { .string($0.description) })),
            JSONMember("keys", .int(Int64(config.keys.count))),
            JSONMember("pid", .int(Int64(getpid()))),
        ])
        if let start, let syslog { syslog.send(start.line) }
        firstSessionID = (start?.seq ?? 0) + 1
        trail = AuditTrail(writer: writer, syslog: syslog, report: report)
    }

    /// A reload's outcome, with the keys it added and removed by name; `trigger`: the etcd change
    /// that caused it (cluster mode), recorded as `trigger`.
    /// `more`: further fields (a cluster reload's refusals).
    func reloaded(from old: PolicyConfig, to new: PolicyConfig, trigger: String? = nil, more: [JSONMember] = []) {
        let before = Set(old.keys.map(\.name)), after = Set(new.keys.map(\.name))
        trail.submit(event: AuditEvent.daemonReload, fields: [
            JSONMember("outcome", .string("applied")),
            JSONMember("config_digest", .string(new.digest)),
            JSONMember("keys", .int(Int64(new.keys.count))),
            JSONMember("keys_added", .array(after.subtracting(before).sorted().map { .string($0) })),
            JSONMember("keys_removed", .array(before.subtracting(after).sorted().map { .string($0) })),
        ] + more + (trigger.map { [JSONMember("trigger", .string($0))] } ?? []))
    }

    func reloadRejected(_ error: String, trigger: String? = nil) {
        trail.submit(event: AuditEvent.daemonReload, fields: [
            JSONMember("outcome", .string("rejected")), JSONMember("error", .string(error)),
        ] + (trigger.map { [JSONMember("trigger", .string($0))] } ?? []))
    }

    /// Writes daemon-stop after everything before it, then closes the log.
    func stopped(reason: String, sessions: Int) -> Bool {
        trail.submit(event: AuditEvent.daemonStop, fields: [
            JSONMember("reason", .string(reason)), JSONMember("sessions", .int(Int64(sessions))),
        ])
        return trail.close(timeout: 10)
    }
}
