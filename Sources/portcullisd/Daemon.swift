import ArgumentParser
import Foundation
import PortcullisPolicy
import PortcullisServer

/// The running daemon: the server, the policy in force, and the signals that reload or stop it.
final class Daemon {
    private let configPath: String
    private let store: PolicyStore
    private let server: SSHServer
    private let log = DaemonLog()
    /// Where the pid goes (and, next to it, the answer to each reload); nil: nowhere.
    private let pidFile: String?
    private var reloads = 0

    init(configPath: String, policyConfig: PolicyConfig, listen: [ListenAddress], pidFile: String? = nil) {
        self.configPath = configPath
        self.pidFile = pidFile
        store = PolicyStore(Policy(config: policyConfig))
        var configuration = ServerConfiguration(
            listen: listen,
            hostKeys: policyConfig.hostKeys, socketRoot: policyConfig.socketRoot)
        configuration.socketMode = policyConfig.socketMode
        configuration.gatewayPorts = policyConfig.gatewayPorts
        configuration.loginGraceTime = policyConfig.limits.loginGraceTime
        configuration.maxAuthTries = policyConfig.limits.maxAuthTries
        let log = self.log
        server = SSHServer(configuration: configuration, authority: PolicyAuthority(store: store),
                           observer: { log.record($0) })
    }

    /// Serves until SIGTERM or SIGINT.
    func run() throws {
        do {
            try server.start()
        } catch {
            log.line("cannot start: \(error)")
            throw ExitCode(1)
        }
        log.line("listening on \(server.endpoints.map(\.description).joined(separator: ", ")) "
                 + "with \(store.current.config.keys.count) keys; \(LibSSH.build)")
        let stop = DispatchSemaphore(value: 0)
        let signals = [SIGHUP, SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if number == SIGHUP { reload() } else { stop.signal() }
            }
            source.resume()
            return source
        }
        if let pidFile {
            // Written only now that SIGHUP is handled: a reload sent as soon as it appears is safe.
            unlink(ReloadStatus.path(pidFile: pidFile))
            do {
                try AtomicFile.write(Data("\(getpid())\n".utf8), to: pidFile, mode: 0o644)
            } catch {
                log.line("cannot write the pid file: \(error)")
                _ = server.shutdown(timeout: 10)
                throw ExitCode(1)
            }
        }
        stop.wait()
        log.line("stopping: closing \(server.sessionCount) sessions")
        let clean = server.shutdown(timeout: 10)
        signals.forEach { $0.cancel() }
        if let pidFile {
            unlink(pidFile)
            unlink(ReloadStatus.path(pidFile: pidFile))
        }
        log.line(clean ? "stopped" : "stopped with sessions still closing")
    }

    /// Re-reads the configuration; an invalid one is rejected and the old one stays in force.
    /// With a pid file, the outcome is written next to it for `policyctl reload`.
    private func reload() {
        let status: (ok: Bool, message: String)
        do {
            let config = try ConfigLoader.load(path: configPath)
            store.replace(with: Policy(config: config))
            status = (true, "reloaded \(configPath): \(config.keys.count) keys")
            log.line(status.message)
        } catch {
            status = (false, "reload rejected, the previous configuration stays in force:\n\(error)")
            log.line(status.message)
        }
        guard let pidFile else { return }
        reloads += 1
        do {
            try ReloadStatus(pid: getpid(), sequence: reloads, ok: status.ok, message: status.message).write(pidFile: pidFile)
        } catch {
            log.line("cannot write the reload status: \(error)")
        }
    }
}
