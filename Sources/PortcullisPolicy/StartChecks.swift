#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What stops the daemon at start although the configuration itself is valid: a host key that is
/// missing, unreadable, open to group or others or does not parse, and a listen address the
/// daemon cannot listen on. `portcullisd --check`, `policyctl validate` and the daemon's own start
/// run these same checks (through PortcullisServer's StartupCheck, which supplies the key parser).
public enum StartChecks {
    /// Every problem, each at the line of its `host_keys` or `listen` entry. `parse` loads a key
    /// file's bytes and says why it cannot be used (nil: usable). `listen` replaces the config's
    /// addresses when the daemon is told others on its command line (reported without a line).
    public static func problems(
        _ config: PolicyConfig, listen override: [ListenAddress]? = nil, parse: (String, [UInt8]) -> String?
    ) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for (index, path) in config.hostKeys.enumerated() {
            let location = config.locations.hostKeys.indices.contains(index) ? config.locations.hostKeys[index] : nil
            func report(_ message: String) {
                problems.append(ConfigProblem(file: location?.file ?? "host_keys", line: location?.line,
                                              message: "host_keys[\(index)] \(NodeReader.quoted(path)): \(message)"))
            }
            switch HostKeyFile.read(path) {
            case .failure(let problem): report(problem.message)
            case .success(let bytes): if let reason = parse(path, bytes) { report(reason) }
            }
        }
        let addresses = override ?? config.listen
        for (index, address) in addresses.enumerated() {
            guard let message = listenProblem(address) else { continue }
            if override != nil {
                problems.append(ConfigProblem(file: "--listen", line: nil, message: "\(NodeReader.quoted(address.description)): \(message)"))
            } else {
                let location = config.locations.listen.indices.contains(index) ? config.locations.listen[index] : nil
                problems.append(ConfigProblem(file: location?.file ?? "listen", line: location?.line,
                                              message: "listen[\(index)] \(NodeReader.quoted(address.description)): \(message)"))
            }
        }
        return problems
    }

    /// Why the daemon cannot listen on `address`, or nil. It binds with the resolver in numeric
    /// mode (AI_NUMERICHOST, as here: no lookup, no network), so a host name does not resolve there.
    public static func listenProblem(_ address: ListenAddress) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &list)
        if rc == 0 {
            freeaddrinfo(list)
            return nil
        }
        return "does not resolve: \(NodeReader.quoted(address.host)) is not a numeric IPv4 or IPv6 address, "
            + "and the daemon listens only on numeric addresses (it never looks a name up)"
    }
}
