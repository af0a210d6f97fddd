import ArgumentParser
import Foundation
import Synchronization
import PortcullisAudit
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisServer

/// The running daemon: the server, the policy in force, and the signals that reload or stop it.
final class Daemon: @unchecked Sendable {
    private let configPath: String
    private let store: PolicyStore
    private let server: SSHServer
    private let log: DaemonLog
    private let audit: DaemonAudit
    /// The configuration in force, to tell what a reload changed.
    private var config: PolicyConfig
    /// Where the pid goes (and, next to it, the answer to each reload); nil: nowhere.
    private let pidFile: String?
    private var reloads = 0
    /// The addresses of --listen, which replace the config's: what a reload's start checks test.
    private let listenOverride: [ListenAddress]?
    /// The control socket, while running (nil: control_socket off).
    private var control: ControlServer?
    /// When the daemon started and the configuration in force was loaded.
    let startedAt = Date()
    private var configLoadedAt = Date()
    private var lastReload: ControlReload?
    /// One reload at a time (SIGHUP and the control socket).
    private let reloadLock = NSLock()
    /// What `/metrics` serves (metrics_listen); nil: metrics off.
    private let metrics: ServerMetrics?
    private var metricsEndpoint: MetricsEndpoint?
    /// Cluster mode's tunnel registry (claims before binds, fencing); nil: a single daemon.
    private let registry: RegistryListenClaims?
    /// The account to drop to once everything is bound (root started it with `user:`); nil: none.
    private let dropTo: ServiceAccount?
    /// systemd's notification socket ($NOTIFY_SOCKET); nil: not run by systemd as Type=notify.
    private let notify: SystemdNotify?
    /// Cluster mode: where the key entries come from (etcd, watched); nil: the files.
    private let cluster: ClusterPolicySource?

    /// Opens the audit log and writes daemon-start; throws if the log cannot be written.
    init(configPath: String, policyConfig: PolicyConfig, listen: [ListenAddress], listenOverride: [ListenAddress]? = nil,
         pidFile: String? = nil, syslogSocket: String = "/dev/log", dropTo: ServiceAccount? = nil,
         notify: SystemdNotify? = nil, cluster: ClusterPolicySource? = nil, log: DaemonLog) throws {
        self.configPath = configPath
        self.cluster = cluster
        self.dropTo = dropTo
        self.notify = notify
        self.listenOverride = listenOverride
        self.pidFile = pidFile
        self.log = log
        config = policyConfig
        store = PolicyStore(Policy(config: policyConfig))
        audit = try DaemonAudit(config: policyConfig, configPath: configPath, listen: listen,
                                syslogSocket: syslogSocket, log: log)
        var configuration = ServerConfiguration(
            listen: listen,
            hostKeys: policyConfig.hostKeys, socketRoot: policyConfig.socketRoot)
        configuration.socketMode = policyConfig.socketMode
        configuration.gatewayPorts = policyConfig.gatewayPorts
        configuration.loginGraceTime = policyConfig.limits.loginGraceTime
        configuration.maxAuthTries = policyConfig.limits.maxAuthTries
        configuration.resolveTimeout = Double(policyConfig.limits.resolveTimeout)
        configuration.admission = StartupAdmission.Settings(policyConfig.limits)
        configuration.firstSessionID = audit.firstSessionID
        configuration.algorithms = policyConfig.algorithms
        configuration.log = OperationalLog { log.line($0) }
        configuration.clientAliveInterval = policyConfig.limits.clientAliveInterval
        configuration.clientAliveCountMax = policyConfig.limits.clientAliveCountMax
        let recorder = AuditRecorder(trail: audit.trail, echo: { log.record($0.withClientTextCapped) })
        metrics = policyConfig.metricsListen.map { _ in
            ServerMetrics(perKey: policyConfig.metricsPerKey, version: portcullisVersion, libssh: LibSSH.version)
        }
        if let metrics {
            let trail = audit.trail
            metrics.sampleAuditBacklog { trail.backlog }
            trail.observeWrites { metrics.auditWritten(seconds: $0) }
            if let cluster { metrics.sampleClusterConnected { cluster.current.connected } }
        }
        configuration.metrics = metrics
        if let cluster = policyConfig.cluster, let hostKey = policyConfig.hostKeys.first {
            // The host key is read now, before any drop of privileges.
            configuration.peering = try Peering(proxyID: policyConfig.proxyID,
                                                directory: EtcdPeerDirectory(settings: cluster, log: log),
                                                hostKeyPath: hostKey)
        }
        registry = try DaemonRegistry.make(policyConfig, log: log)
        if let registry { configuration.listenClaims = registry }
        server = SSHServer(configuration: configuration, authority: PolicyAuthority(store: store),
                           recorder: metrics.map { MetricsRecorder(recorder, metrics: $0) } ?? recorder)
        registry?.attach(server.live)
    }

    /// Serves until SIGTERM or SIGINT.
    func run() throws {
        // Signals are handled before anything says the daemon is up: a SIGHUP sent as soon as
        // "listening on" appears must reload, not kill it.
        let stop = DispatchSemaphore(value: 0)
        let stopSignal = Mutex<Int32>(0)
        // A queue of their own: work blocked elsewhere (on etcd, say) never delays a stop or a reload.
        let signalQueue = DispatchQueue(label: "portcullis-signals")
        let signals = [SIGHUP, SIGUSR1, SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
            source.setEventHandler { [self] in
                switch number {
                case SIGHUP:
                    // logrotate may send either: the log is reopened on both.
                    audit.trail.reopen()
                    _ = reload()
                case SIGUSR1:
                    audit.trail.reopen()
                default:
                    stopSignal.withLock { $0 = number }
                    stop.signal()
                }
            }
            source.resume()
            return source
        }
        var pidWritten = false
        do {
            if let path = config.controlSocket {
                control = try ControlServer(path: path, group: config.controlGroup.flatMap(StartupCheck.groupID),
                                            owner: dropTo?.uid)
            }
            if let metrics, let address = config.metricsListen {
                metricsEndpoint = try MetricsEndpoint(host: address.host, port: address.port) { metrics.render() }
            }
            // Everything that needs root is bound and open once the listeners are: then the drop
            // to `user:` and the pid file, both before the first connection is accepted.
            // Cluster mode: the member is registered (its proxy_id unique) before any listen is claimed.
            try registry?.start()
            try server.start { [self] in
                if let dropTo { try becomeServiceUser(dropTo) }
                // As the account once dropped: the pid file is its own, made with its rights.
                if let pidFile {
                    // Written only now that SIGHUP is handled: a reload sent as soon as it appears is safe.
                    unlink(ReloadStatus.path(pidFile: pidFile))
                    do {
                        try AtomicFile.write(Data("\(getpid())\n".utf8), to: pidFile, mode: 0o644)
                    } catch {
                        throw Privileges.Failure(description: "cannot write the pid file: \(error)")
                    }
                    pidWritten = true
                }
            }
            metricsEndpoint?.start()
            // As the account once dropped: the snapshot a start during an etcd outage needs.
            if let cluster, cluster.current.connected { try cluster.writeSnapshot() }
        } catch {
            registry?.stop()
            control?.stop()
            if pidWritten, let pidFile, unlink(pidFile) != 0 {
                // After the drop, in a directory only root writes: say so rather than leave it silently.
                log.line("cannot remove the pid file \(pidFile): \(String(cString: strerror(errno)))")
            }
            log.line("cannot start: \(error)")
            _ = audit.stopped(reason: "cannot start: \(error)", sessions: 0)
            throw ExitCode(1)
        }
        control?.start { [self] in answer($0) }
        cluster?.run(apply: { [self] change in reload(trigger: change).ok }, events: { [self] event in
            audit.cluster(event)
            switch event {
            case .disconnected(let reason): log.line("etcd unreachable: the last good policy stays in force (stale): \(reason)")
            case .connected(let revision): log.line("etcd reachable again: policy read at revision \(revision)")
            }
        })
        let endpoints = server.endpoints.map(\.description)
        log.line("listening on \(endpoints.joined(separator: ", ")) "
                 + "with \(store.current.config.keys.count) keys; \(LibSSH.build); "
                 + (config.auditLog.map { "audit log \($0)" } ?? "audit log off"))
        if let metricsEndpoint {
            log.line("metrics on \(metricsEndpoint.endpoints.map { "http://\($0)/metrics" }.joined(separator: ", "))")
        }
        notify?.send(NotifyMessage.ready(endpoints: endpoints, keys: store.current.config.keys.count, pid: getpid()))
        stop.wait()
        let open = server.sessionCount
        notify?.send(NotifyMessage.stopping(sessions: open))
        control?.stop()
        cluster?.stop()
        log.line("stopping: closing \(open) sessions")
        let clean = server.shutdown(timeout: 10)
        registry?.stop()
        metricsEndpoint?.stop()
        signals.forEach { $0.cancel() }
        let reason = stopSignal.withLock { $0 } == SIGINT ? "SIGINT" : "SIGTERM"
        if !audit.stopped(reason: reason, sessions: open) {
            log.line("audit records could not all be written before stopping")
        }
        if let pidFile {
            unlink(pidFile)
            unlink(ReloadStatus.path(pidFile: pidFile))
        }
        log.line(clean ? "stopped" : "stopped with sessions still closing")
    }

    /// Re-reads the configuration; an invalid one, or one that would stop the next start (a host
    /// key or listen address StartupCheck refuses), is rejected and the old one stays in force.
    /// With a pid file, the outcome is written next to it for `policyctl reload`.
    /// `trigger`: the etcd change that asked for it (cluster mode); nil: SIGHUP or the control socket.
    private func reload(trigger: String? = nil) -> (ok: Bool, message: String) {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        notify?.send(NotifyMessage.reloading(monotonicMicroseconds: NotifyMessage.monotonicNow()))
        let status: (ok: Bool, message: String)
        do {
            // Cluster mode: entry by entry (a broken entry never replaces its last good version,
            // and every removal applies); see DaemonCluster.reload.
            let merged = try cluster.map { cluster throws(ConfigError) in try DaemonCluster.reload(configPath, cluster, inForce: config) }
            let new = try merged?.config ?? DaemonCluster.load(configPath, nil)
            // Refused too: what would stop the next start (as `policyctl validate` would refuse it).
            let startProblems = StartupCheck.problems(new, listen: listenOverride)
            guard startProblems.isEmpty else { throw ConfigError(problems: startProblems) }
            if let merged, merged.isPartial, new.digest == config.digest, new.keys.map(\.name) == config.keys.map(\.name) {
                // Nothing new would be in force: the change is refused, as a reload is.
                throw DaemonCluster.NothingNew(reload: merged)
            }
            store.replace(with: Policy(config: new))
            // The reload's record comes before those of the sessions it ends.
            if let merged, merged.isPartial {
                audit.reloadedPartly(from: config, to: new, merged, trigger: trigger)
            } else {
                audit.reloaded(from: config, to: new, trigger: trigger)
            }
            if let merged { cluster?.adopt(merged.documents) }
            server.rulesChanged()
            server.admissionChanged(StartupAdmission.Settings(new.limits))
            if new.auditLog != config.auditLog || new.auditSyslog != config.auditSyslog {
                log.line("audit_log and audit_syslog changes take effect at the next start")
            }
            if new.algorithms != config.algorithms {
                log.line("algorithms changes take effect at the next start")
            }
            if new.controlSocket != config.controlSocket || new.controlGroup != config.controlGroup {
                log.line("control_socket and control_group changes take effect at the next start")
            }
            if new.serviceAccount != config.serviceAccount {
                log.line("user and group changes take effect at the next start")
            }
            if new.proxyID != config.proxyID || new.cluster != config.cluster {
                log.line("proxy_id and cluster changes take effect at the next start")
            }
            if Self.startOnlyChanged(from: config, to: new) {
                log.line("metrics_listen, metrics_per_key and client_alive_* changes take effect at the next start")
            }
            config = new
            configLoadedAt = Date()
            metrics?.reloaded(ok: true)
            let stale = merged.flatMap { $0.isPartial ? $0 : nil }.map {
                "; the policy is partly stale, refused: " + $0.problemText.replacingOccurrences(of: "\n", with: "; ")
            } ?? ""
            status = (true, (trigger.map { "applied \($0): \(new.keys.count) keys" } ?? "reloaded \(configPath): \(new.keys.count) keys") + stale)
            log.line(status.message)
            notify?.send(NotifyMessage.reloaded(keys: new.keys.count))
        } catch let refused as DaemonCluster.NothingNew {
            audit.reloadRejected(refused.reload, trigger: trigger)
            metrics?.reloaded(ok: false)
            let problems = refused.reload.problemText
            status = (false, "reload rejected, the previous configuration stays in force:\n\(problems)")
            log.line("reload rejected, the previous configuration stays in force: " + problems.replacingOccurrences(of: "\n", with: "; "))
            notify?.send(NotifyMessage.reloadRejected(reason: problems))
        } catch {
            audit.reloadRejected("\(error)", trigger: trigger)
            metrics?.reloaded(ok: false)
            status = (false, "reload rejected, the previous configuration stays in force:\n\(error)")
            // The reason on the log line itself (a line ending in ":" reads as a refusal without one).
            log.line("reload rejected, the previous configuration stays in force: \(error)")
            notify?.send(NotifyMessage.reloadRejected(reason: "\(error)"))
        }
        lastReload = ControlReload(ok: status.ok, message: status.message, at: ControlTime.text(Date()))
        // PATH.reload answers `policyctl reload` (a SIGHUP); an etcd change is no answer to it.
        guard let pidFile, trigger == nil else { return status }
        reloads += 1
        do {
            try ReloadStatus(pid: getpid(), sequence: reloads, ok: status.ok, message: status.message).write(pidFile: pidFile)
        } catch {
            log.line("cannot write the reload status: \(error)")
        }
        return status
    }

    /// Drops to the account for good and runs the start checks again as it: called before the
    /// first connection is accepted. (The control socket was given to it when made.)
    private func becomeServiceUser(_ account: ServiceAccount) throws {
        // Nothing is chowned by path here: the audit log was opened as the account, and the pid
        // file and socket_root's record are made after the drop.
        try Privileges.drop(to: account)
        let problems = AccountChecks.problems(config, configPath: configPath, listen: listenOverride, pidFile: pidFile,
                                              account: account)
        guard problems.isEmpty else {
            // Each problem names the file and the user; one log line says them all.
            throw Privileges.Failure(description: problems.joined(separator: "; "))
        }
        if let warning = AccountChecks.controlSocketWarning(config, account: account) { log.line(warning) }
        log.line("running as user \(account.user) (uid \(account.uid)), group \(account.group) (gid \(account.gid)), "
                 + "groups \(Privileges.groups(of: account).sorted().map(String.init).joined(separator: ",")); root dropped")
    }

    /// One control-socket request (on the client's thread).
    private func answer(_ command: ControlProtocol.Command) -> ControlResponse {
        switch command {
        case .status:
            reloadLock.lock()
            let (config, loaded, last) = (self.config, configLoadedAt, lastReload)
            reloadLock.unlock()
            var status = ControlStatus(
                version: portcullisVersion, libssh: LibSSH.build, pid: getpid(), started: ControlTime.text(startedAt),
                uptimeSeconds: (Date().timeIntervalSince(startedAt) * 10).rounded() / 10, config: configPath,
                configDigest: config.digest, configLoaded: ControlTime.text(loaded), totals: server.live.totals(),
                auditBacklog: audit.trail.backlog, lastReload: last)
            status.cluster = cluster.map { DaemonCluster.status($0, config) }
            return ControlResponse(ok: true, status: status)
        case .sessions(let key):
            return ControlResponse(ok: true, sessions: server.live.snapshot(key: key))
        case .disconnect(let target):
            let reason = "disconnected by administrator"
            switch target {
            case .session(let id):
                guard let ended = server.live.disconnect(id: id, reason: reason) else {
                    return .failure("no session \(id)")
                }
                return ControlResponse(ok: true, sessions: [ended])
            case .key(let key):
                let ended = server.live.disconnect(key: key, reason: reason)
                guard !ended.isEmpty else { return .failure("no session of key \(key)") }
                return ControlResponse(ok: true, sessions: ended)
            }
        case .reload:
            let status = reload()
            return ControlResponse(ok: true, reload: ControlReload(ok: status.ok, message: status.message, pid: getpid()))
        }
    }

    /// Whether `new` changes what only a start applies: the metrics endpoint and client_alive_*.
    private static func startOnlyChanged(from old: PolicyConfig, to new: PolicyConfig) -> Bool {
        old.metricsListen?.description != new.metricsListen?.description || old.metricsPerKey != new.metricsPerKey
            || old.limits.clientAliveInterval != new.limits.clientAliveInterval
            || old.limits.clientAliveCountMax != new.limits.clientAliveCountMax
    }
}
