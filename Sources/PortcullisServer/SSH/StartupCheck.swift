import Foundation
import PortcullisPolicy

/// What stops the daemon at start although the configuration loads: host keys (file checks and
/// libssh's parse) and listen addresses. `portcullisd` runs it before it starts and for `--check`,
/// `policyctl validate` runs it too: one piece of code for all three.
public enum StartupCheck {
    /// Every problem, at the line of its `host_keys` or `listen` entry; `listen` replaces the
    /// config's addresses (portcullisd --listen).
    public static func problems(_ config: PolicyConfig, listen: [ListenAddress]? = nil) -> [ConfigProblem] {
        StartChecks.problems(config, listen: listen, parse: { HostKeyCheck.problem(path: $0, bytes: $1) })
    }
}

extension StartupCheck {
    /// What stops the control socket from being bound at start: another daemon answering on it,
    /// something else at its path, a directory above it that someone other than root or the
    /// daemon's account could change (any of them, up to /: renaming one away lets its writer
    /// answer policyctl in the daemon's place), a control_group that does not exist. Not part of
    /// `problems` (a reload or `validate` would find the running daemon's own socket).
    public static func controlSocketProblems(_ config: PolicyConfig, configPath: String) -> [ConfigProblem] {
        guard let path = config.controlSocket else { return [] }
        var problems: [ConfigProblem] = []
        let direct = ControlServer.problem(path, owner: config.serviceAccount?.uid)
        if let direct {
            problems.append(ConfigProblem(file: configPath, line: nil, message: "control_socket \(path): \(direct)"))
        }
        // The parent itself is ControlServer's (stricter: no sticky exception); one message for it.
        let parent = (path as NSString).deletingLastPathComponent
        if let unsafe = SecureAncestors.problem(above: path, owners: [config.serviceAccount?.uid, geteuid()].compactMap { $0 }),
           direct == nil || unsafe.directory != parent {
            problems.append(ConfigProblem(file: configPath, line: nil, message: "control_socket \(path): \(unsafe): "
                + "whoever can write it could rename what is below it away and answer policyctl in the daemon's "
                + "place; every directory above the socket must belong to root (or the daemon's user) and be "
                + "writable by no one else, unless sticky like /tmp"))
        }
        if let group = config.controlGroup, groupID(group) == nil {
            problems.append(ConfigProblem(file: configPath, line: nil, message: "control_group \(group): no such group"))
        }
        return problems
    }

    /// The id of group `name` (or a number), nil if there is none.
    public static func groupID(_ name: String) -> gid_t? {
        if let number = gid_t(name) { return number }
        guard let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }
}
