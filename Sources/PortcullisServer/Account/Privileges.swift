import Foundation
import PortcullisPolicy

/// Who the daemon runs as: it drops root for the account `user:` names (once everything that
/// needs root is bound and opened) the way OpenSSH's permanently_set_uid does, and then checks
/// that the drop holds for every thread and cannot be undone.
public enum Privileges {
    /// What the start does about `user:`.
    public enum Plan: Equatable {
        /// Runs as who started it; `warnRoot`: that is root and no `user:` says otherwise.
        case stay(warnRoot: Bool)
        /// Started as root: drops to the account before accepting any connection.
        case drop(ServiceAccount)
        /// Cannot become the account: the message says why and what to do.
        case refuse(String)
    }

    /// The plan for `account` when the daemon runs as `uid`.
    public static func plan(_ account: ServiceAccount?, uid: uid_t = geteuid(), configPath: String) -> Plan {
        guard let account else { return .stay(warnRoot: uid == 0) }
        if account.uid == uid { return .stay(warnRoot: false) }
        if uid == 0 { return .drop(account) }
        return .refuse("user: \(account.user) (uid \(account.uid)) in \(configPath), but the daemon was started as "
                       + "\(userName(uid)) (uid \(uid)), and only root can become another user: start it as root "
                       + "(it drops to \(account.user) once its ports are bound) or as \(account.user)")
    }

    /// The line said at start when root runs the daemon and no `user:` makes it drop root.
    public static func rootWarning(configPath: String) -> String {
        "running as root; set user: (an unprivileged account such as portcullis, owning the host keys, "
            + "socket_root and the audit log directory) in \(configPath) so that the daemon drops root "
            + "once its ports are bound"
    }

    /// The drop failed or did not hold.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Becomes `account` for good, every thread: the user's supplementary groups (initgroups),
    /// then the group, then the user (in that order: only root may change groups); then checks
    /// that real, effective and saved ids are the account's in every thread, that the groups are
    /// exactly the user's, and that root cannot be regained.
    public static func drop(to account: ServiceAccount) throws(Failure) {
        func fail(_ what: String) -> Failure {
            Failure(description: "cannot become \(account.user): \(what): \(String(cString: strerror(errno)))")
        }
        // glibc applies setgroups, setgid and setuid to every thread of the process (its setxid
        // broadcast); the /proc check below verifies it.
        guard initgroups(account.user, account.gid) == 0 else { throw fail("initgroups") }
        guard setgid(account.gid) == 0 else { throw fail("setgid(\(account.gid))") }
        guard setuid(account.uid) == 0 else { throw fail("setuid(\(account.uid))") }
        // Real and effective here; saved and filesystem ids too, of every thread, from /proc below.
        guard getuid() == account.uid, geteuid() == account.uid, getgid() == account.gid, getegid() == account.gid else {
            throw Failure(description: "cannot become \(account.user): ids are uid \(getuid())/\(geteuid()) "
                          + "gid \(getgid())/\(getegid()) after the drop")
        }
        // As OpenSSH: if root could be regained, the drop did not happen.
        if account.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0) {
            throw Failure(description: "cannot become \(account.user): root could be regained after the drop (setuid(0) succeeded)")
        }
        if account.gid != 0 && account.uid != 0 && (setgid(0) == 0 || setegid(0) == 0) {
            throw Failure(description: "cannot become \(account.user): group 0 could be regained after the drop")
        }
        let expected = groups(of: account)
        if Set(currentGroups()) != expected {
            throw Failure(description: "cannot become \(account.user): groups are \(currentGroups().sorted()) after the drop, "
                          + "expected \(expected.sorted())")
        }
        for problem in threadProblems(account) { throw Failure(description: "cannot become \(account.user): \(problem)") }
    }

    /// Runs `body` with the account's effective user, group and groups, as OpenSSH's
    /// temporarily_use_uid does, then becomes root again: what `body` opens or creates (the audit
    /// log and its recovery, in directories the account may write) is reached with the account's
    /// rights, so a symbolic link the account planted there leads nowhere it could not already
    /// write, and what is created is the account's without any chown by path.
    public static func asAccount<T>(_ account: ServiceAccount, _ body: () throws -> T) throws -> T {
        let savedGroups = currentGroups()
        let savedGID = getegid()
        guard initgroups(account.user, account.gid) == 0, setegid(account.gid) == 0, seteuid(account.uid) == 0 else {
            let reason = String(cString: strerror(errno))
            restoreRoot(groups: savedGroups, gid: savedGID)
            throw Failure(description: "cannot act as \(account.user): \(reason)")
        }
        defer { restoreRoot(groups: savedGroups, gid: savedGID) }
        return try body()
    }

    /// Root again after ``asAccount(_:_:)`` (the saved user id is still 0); a failure here would
    /// leave the process half-switched, so it ends it.
    private static func restoreRoot(groups: [gid_t], gid: gid_t) {
        guard seteuid(0) == 0, setegid(gid) == 0, setgroups(groups.count, groups) == 0 else {
            fatalError("cannot become root again after acting as the account: \(String(cString: strerror(errno)))")
        }
    }

    /// Makes the missing directory `path` (and its parents, mode 0750) as root, then gives the
    /// last one to the account through a descriptor opened without following a symbolic link: one
    /// swapped in meanwhile is refused, never followed. Nothing is done when `path` exists.
    public static func makeDirectory(_ path: String, for account: ServiceAccount) throws(Failure) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw Failure(description: "cannot make \(path): \(error.localizedDescription)")
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fchown(fd, account.uid, account.gid) == 0 else {
            throw Failure(description: "cannot give \(path) to \(account.user): \(String(cString: strerror(errno)))")
        }
    }

    /// The supplementary groups of `account`: those the group database lists it in, and its group.
    public static func groups(of account: ServiceAccount) -> Set<gid_t> {
        var count: Int32 = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            let wanted = count
            if getgrouplist(account.user, account.gid, &list, &count) >= 0 {
                return Set(list.prefix(Int(count)))
            }
            if count <= wanted { count = wanted * 2 }
        }
    }

    private static func currentGroups() -> [gid_t] {
        let count = getgroups(0, nil)
        guard count > 0 else { return [] }
        var list = [gid_t](repeating: 0, count: Int(count))
        let got = getgroups(count, &list)
        return Array(list.prefix(Int(max(got, 0))))
    }

    /// Every thread whose /proc status shows other ids than the account's (all four Uid and Gid
    /// fields) or, for an account other than root, any permitted or effective capability.
    static func threadProblems(_ account: ServiceAccount) -> [String] {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
        var problems: [String] = []
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("Uid:") || line.hasPrefix("Gid:") {
                let ids = line.dropFirst(4).split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) }
                let want = line.hasPrefix("Uid:") ? account.uid : account.gid
                if ids.count != 4 || ids.contains(where: { $0 != want }) {
                    problems.append("thread \(task) still has \(line.replacingOccurrences(of: "\t", with: " "))")
                }
            }
            for line in status.split(separator: "\n") where account.uid != 0
                && (line.hasPrefix("CapPrm:") || line.hasPrefix("CapEff:")) {
                if UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) != 0 {
                    problems.append("thread \(task) still has capabilities: \(line.replacingOccurrences(of: "\t", with: " "))")
                }
            }
        }
        return problems
    }

    public static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return "uid \(uid)" }
        return String(cString: entry.pointee.pw_name)
    }
}
