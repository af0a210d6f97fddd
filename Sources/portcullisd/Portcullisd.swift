import ArgumentParser
import Foundation
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// `portcullisd`: the SSH forwarding server with per-key rules.
@main
struct Portcullisd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullisd",
        abstract: "SSH server that forwards TCP ports and Unix sockets under per-key rules.",
        discussion: """
            Runs in the foreground and logs to stderr. SIGHUP re-reads the configuration (an invalid \
            one is rejected and the old one stays in force; with --pid-file PATH the outcome is written \
            to PATH.reload as JSON, which `policyctl reload` reads); SIGUSR1 (and SIGHUP) reopen the audit \
            log, for logrotate; SIGTERM or SIGINT stops it: no new connections, every session closed, \
            every socket file it created removed, exit 0.

            `policyctl status`, `sessions`, `disconnect` and `reload` talk to the daemon over its \
            control socket (control_socket, default /run/portcullis/control.sock, mode 0600); the \
            daemon does not start if another one answers there.

            Every authentication, decision, forward and channel is recorded in the audit log \
            (audit_log, default /var/log/portcullis/audit.jsonl) before the client hears the answer.

            Started as root with user: (and group:) in the config, it binds and opens what needs \
            root, then drops to that account before it accepts a connection. With $NOTIFY_SOCKET \
            set (systemd Type=notify) it reports readiness, reloads and its stop there.

            Example:
              portcullisd --config /etc/portcullis/portcullis.yaml
              portcullisd --config Config/portcullis.yaml --check

            Exit status: 0 on a clean stop or a valid --check, 1 for an invalid configuration or a
            failure to start, 64 for bad arguments.
            """,
        version: "portcullisd \(portcullisVersion) on \(LibSSH.build)"
    )

    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/portcullis/portcullis.yaml"

    @Flag(name: .long, help: "Validate the configuration, host keys and listen addresses as a start would, and exit.")
    var check = false

    @Option(name: .long, help: "Accept connections on ADDR (host:port) instead of the config's listen list; repeatable.")
    var listen: [String] = []

    @Option(name: .long, help: ArgumentHelp("Write the pid to PATH once running (removed at a clean stop), and each reload's outcome to PATH.reload.", valueName: "PATH"))
    var pidFile: String?

    @Option(name: .long, help: ArgumentHelp("The local syslog socket for audit_syslog.", valueName: "PATH"))
    var syslogSocket = "/dev/log"

    func run() throws {
        // Absolute, so that rules are named by a full path in the audit log and a reload finds the file.
        let config = URL(fileURLWithPath: self.config).standardizedFileURL.path
        let override: [ListenAddress]?
        do {
            override = try listen.isEmpty ? nil : listen.map { try ListenAddress($0) }
        } catch {
            throw ValidationError("--listen: \(error)")
        }
        var policyConfig: PolicyConfig
        do {
            policyConfig = try ConfigLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("portcullisd: invalid configuration:\n\(error)\n".utf8))
            throw ExitCode(1)
        }
        // Cluster mode: the key entries are etcd's (or, while it is down, the snapshot's).
        var cluster: ClusterPolicySource?
        if let settings = policyConfig.cluster {
            let source: ClusterPolicySource, said: String
            let clusterLog = DaemonLog()
            do {
                (source, said) = try DaemonCluster.begin(settings) { clusterLog.line($0) }
            } catch {
                FileHandle.standardError.write(Data("portcullisd: cannot start: \(error)\n".utf8))
                throw ExitCode(1)
            }
            do {
                if check {
                    // --check validates: an entry that does not load is an error there.
                    policyConfig = try DaemonCluster.load(config, source)
                } else {
                    // A start, as a reload, refuses an entry that does not load on its own.
                    let start = try DaemonCluster.start(config, source, prefix: settings.prefix)
                    policyConfig = start.config
                    clusterLog.line(said)
                    if start.isPartial {
                        clusterLog.line("starting with \(start.refusals.count) key entries refused; the policy is partly "
                                        + "stale, refused: " + start.problemText.replacingOccurrences(of: "\n", with: "; "))
                    }
                }
            } catch {
                FileHandle.standardError.write(Data("portcullisd: invalid configuration:\n\(error)\n".utf8))
                throw ExitCode(1)
            }
            cluster = source
        }
        // What would stop the start (host keys, listen addresses) is found here, for --check too.
        let startProblems = StartupCheck.problems(policyConfig, listen: override)
        guard startProblems.isEmpty else {
            let text = ConfigError(problems: startProblems).description
            FileHandle.standardError.write(Data("portcullisd: invalid configuration:\n\(text)\n".utf8))
            throw ExitCode(1)
        }
        // The control socket: another daemon answering on it stops this one (not --check: a
        // running daemon is no reason to call its config invalid).
        let controlProblems = check ? [] : StartupCheck.controlSocketProblems(policyConfig, configPath: config)
        guard controlProblems.isEmpty else {
            for problem in controlProblems {
                FileHandle.standardError.write(Data("portcullisd: cannot start: \(problem)\n".utf8))
            }
            throw ExitCode(1)
        }
        let plan = Privileges.plan(policyConfig.serviceAccount, configPath: config)
        if check {
            // What the account the start drops to would find (socket_root it cannot write, a
            // host key it cannot read...) stops a start, so --check reports it too.
            let accountProblems = try AccountChecks.beforeStart(policyConfig, configPath: config, listen: override,
                                                                pidFile: pidFile)
            guard accountProblems.isEmpty else {
                for problem in accountProblems {
                    FileHandle.standardError.write(Data("portcullisd: cannot start: \(problem)\n".utf8))
                }
                throw ExitCode(1)
            }
            print("\(config): OK (\(policyConfig.keys.count) keys)")
            return
        }
        let log = DaemonLog()
        // user: the account it drops to once bound; another account than its own needs root.
        var dropTo: ServiceAccount?
        switch plan {
        case .refuse(let message):
            log.line("cannot start: \(message)")
            throw ExitCode(1)
        case .stay(let warnRoot):
            if warnRoot { log.line(Privileges.rootWarning(configPath: config)) }
        case .drop(let account):
            dropTo = account
        }
        if let settings = policyConfig.cluster {
            do {
                try DaemonCluster.makeSnapshotDirectory(settings, for: dropTo)
            } catch {
                log.line("cannot start: cluster.snapshot \(settings.snapshot): cannot make its directory: \(error)")
                throw ExitCode(1)
            }
        }
        let addresses = override ?? policyConfig.listen
        // Opened (and connected) now: it may lie where the account dropped to cannot reach it.
        let notify = SystemdNotify(report: { log.line($0) })
        let daemon: Daemon
        do {
            let open = {
                try Daemon(configPath: config, policyConfig: policyConfig, listen: addresses, listenOverride: override,
                           pidFile: pidFile, syslogSocket: syslogSocket, dropTo: dropTo, notify: notify,
                           cluster: cluster, log: log)
            }
            if let dropTo {
                // Root makes a missing audit log directory for the account; the log itself (and a
                // torn line's recovery) is opened with the account's rights, never root's.
                if let path = policyConfig.auditLog {
                    try Privileges.makeDirectory((path as NSString).deletingLastPathComponent, for: dropTo)
                }
                daemon = try Privileges.asAccount(dropTo, open)
            } else {
                daemon = try open()
            }
        } catch {
            if let dropTo {
                log.line("cannot start: the audit log cannot be opened as user \(dropTo.user) (it is opened with "
                         + "that user's rights; give it and its directory to \(dropTo.user)): \(error)")
            } else {
                log.line("cannot open the audit log: \(error)")
            }
            throw ExitCode(1)
        }
        try daemon.run()
    }
}

/// This build's version.
let portcullisVersion = "0.1.0"
