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
