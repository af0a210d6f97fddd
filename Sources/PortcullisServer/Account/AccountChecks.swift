import Foundation
import PortcullisPolicy

/// The start checks again, run as the account the daemon dropped to: what it must still read or
/// write while it runs (the config and host keys at each reload, socket_root at each -R, the
/// audit log directory when a rotated log is reopened, the pid file's directory for each
/// reload's answer). One that fails stops the start now, naming the file and the user, instead
/// of the first reload or forward failing much later.
public enum AccountChecks {
    public static func problems(_ config: PolicyConfig, configPath: String, listen: [ListenAddress]?, pidFile: String?,
                         account: ServiceAccount) -> [String] {
        let who = "user \(account.user)"
        var problems: [String] = []
        do {
            _ = try ConfigLoader.load(path: configPath)
        } catch {
            problems.append("the configuration cannot be read as \(who) (every reload reads it): "
                            + (error.problems.first?.description ?? "\(error)"))
        }
        for problem in StartupCheck.problems(config, listen: listen) {
            problems.append("\(problem) (as \(who); host keys should belong to \(account.user), mode 0600)")
        }
        if let reason = unwritable(config.socketRoot) {
            problems.append("socket_root \(config.socketRoot): \(who) cannot create sockets there (\(reason)); "
                            + "chown it to \(account.user)")
        }
        if let log = config.auditLog {
            let directory = (log as NSString).deletingLastPathComponent
            if let reason = unwritable(directory) {
                problems.append("audit_log \(log): \(who) cannot write its directory \(directory) (\(reason)), "
                                + "so a rotated log could not be reopened; chown the directory to \(account.user)")
            }
        }
        if let snapshot = config.cluster?.snapshot {
            let directory = (snapshot as NSString).deletingLastPathComponent
            if let reason = unwritable(directory.isEmpty ? "." : directory) {
                problems.append("cluster.snapshot \(snapshot): \(who) cannot write its directory \(directory) (\(reason)), "
                                + "so the last good policy could not be kept for a start while etcd is down; "
                                + "chown the directory to \(account.user)")
            }
        }
        if let pidFile {
            let directory = (pidFile as NSString).deletingLastPathComponent
            if let reason = unwritable(directory.isEmpty ? "." : directory) {
                problems.append("--pid-file \(pidFile): \(who) cannot write its directory \(directory) (\(reason)), "
                                + "so it could neither answer a reload there nor remove the pid file at stop")
            }
        }
        return problems
    }

    /// What the account a start would run as finds (for --check and `policyctl validate`): the
    /// checks above, run with that account's rights when root would drop to it; the refusal when
    /// another account cannot be become; nothing when the start stays who it is.
    public static func beforeStart(_ config: PolicyConfig, configPath: String, listen: [ListenAddress]? = nil,
                                   pidFile: String? = nil) throws -> [String] {
        switch Privileges.plan(config.serviceAccount, configPath: configPath) {
        case .refuse(let message): return [message]
        case .drop(let account):
            return try Privileges.asAccount(account) {
                problems(config, configPath: configPath, listen: listen, pidFile: pidFile, account: account)
            }
        case .stay: return []
        }
    }

    /// A warning (not a refusal): the control socket could not be removed at stop (the next start replaces it).
    public static func controlSocketWarning(_ config: PolicyConfig, account: ServiceAccount) -> String? {
        guard let path = config.controlSocket else { return nil }
        let directory = (path as NSString).deletingLastPathComponent
        guard let reason = unwritable(directory) else { return nil }
        return "control_socket \(path): user \(account.user) cannot write \(directory) (\(reason)), "
            + "so the socket stays behind at stop (the next start replaces it)"
    }

    /// Why the directory `path` cannot have files made and removed in it by this process, or nil.
    /// Asked with the effective ids (AT_EACCESS), which are the account's under
    /// `Privileges.asAccount` (for --check) as after the drop.
    static func unwritable(_ path: String) -> String? {
        faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0 ? nil : "\(String(cString: strerror(errno)).lowercased())"
    }
}
