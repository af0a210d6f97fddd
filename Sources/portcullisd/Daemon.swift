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

    init(configPath: String, policyConfig: PolicyConfig, listen: [ListenAddress]) {
        self.configPath = configPath
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
        stop.wait()
        log.line("stopping: closing \(server.sessionCount) sessions")
        let clean = server.shutdown(timeout: 10)
        signals.forEach { $0.cancel() }
        log.line(clean ? "stopped" : "stopped with sessions still closing")
    }

    /// Re-reads the configuration; an invalid one is rejected and the old one stays in force.
    private func reload() {
        do {
            let config = try ConfigLoader.load(path: configPath)
            store.replace(with: Policy(config: config))
            log.line("reloaded \(configPath): \(config.keys.count) keys")
        } catch {
            log.line("reload rejected, the previous configuration stays in force:\n\(error)")
        }
    }
}
