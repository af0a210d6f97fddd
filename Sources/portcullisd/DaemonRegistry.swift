import PortcullisPolicy
import PortcullisServer

/// Cluster mode's tunnel registry for the daemon: made from `cluster:` and `proxy_id`; nil without
/// `cluster:` (a single daemon claims nothing).
enum DaemonRegistry {
    /// The registry's claims, not yet started; throws a sentence if the host key cannot be read.
    static func make(_ config: PolicyConfig, log: DaemonLog) throws -> RegistryListenClaims? {
        guard let settings = config.cluster else { return nil }
        guard let path = config.hostKeys.first else { throw DaemonRegistryError(description: "no host key for the member record") }
        let hostKey: String
        switch HostKeyLine.of(privateKeyPath: path) {
        case .success(let line): hostKey = line
        case .failure(let error): throw DaemonRegistryError(description: "cluster registry: \(error)")
        }
        return RegistryListenClaims(settings: settings, proxyID: config.proxyID, hostKey: hostKey,
                                    socketRoot: config.socketRoot) { log.line($0) }
    }
}

struct DaemonRegistryError: Error, CustomStringConvertible {
    let description: String
}
