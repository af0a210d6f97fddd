extension Policy {
    func decideOpen(host: String, port: Int, key: KeyEntry) -> Decision {
        guard (1...65535).contains(port) else { return .deny(reason: "invalid port \(port)") }
        guard !key.permitOpen.isEmpty else { return Self.noRules("permit_open", key) }
        for rule in key.permitOpen where rule.port.matches(port) && rule.matchesRequestedHost(host) {
            return .allow(rule: rule.grant)
        }
        return Self.noMatch("permit_open", key, ForwardRequest.tcpOpen(host: host, port: port).target)
    }

    /// The decision for opening `host:port` once the server has resolved `host` to
    /// `resolvedAddresses`, and which of those addresses it may connect to: all of them when a
    /// `*` or exact host rule grants it, otherwise those inside a CIDR rule matching the port.
    /// A denial comes with no addresses. A literal IP `host` with no resolved addresses counts as
    /// resolved to itself.
    public func decideOpen(host: String, port: Int, resolvedAddresses: [String], key: KeyEntry, user: String) -> (Decision, [String]) {
        guard (1...65535).contains(port) else { return (.deny(reason: "invalid port \(port)"), []) }
        guard !key.permitOpen.isEmpty else { return (Self.noRules("permit_open", key), []) }
        let byName = key.permitOpen.first { rule in
            guard rule.port.matches(port) else { return false }
            if case .network = rule.host { return false }
            return rule.matchesRequestedHost(host)
        }
        if let byName { return (.allow(rule: byName.grant), resolvedAddresses) }
        var granting: OpenRule?
        var allowed: [String] = []
        let candidates = resolvedAddresses.isEmpty && IPAddress(host) != nil ? [host] : resolvedAddresses
        for text in candidates {
            guard let address = IPAddress(text, lenient: true) else { continue }
            let rule = key.permitOpen.first { rule in
                guard rule.port.matches(port), case .network(let network) = rule.host else { return false }
                return network.contains(address)
            }
            if let rule {
                allowed.append(text)
                if granting == nil { granting = rule }
            }
        }
        if let granting { return (.allow(rule: granting.grant), allowed) }
        let target = ForwardRequest.tcpOpen(host: host, port: port).target
        let resolved = resolvedAddresses.isEmpty ? "" : " (resolved to \(resolvedAddresses.joined(separator: ", ")))"
        return (.deny(reason: "no permit_open rule of key \(key.name) matches \(target)\(resolved)"), [])
    }

    /// Whether opening `host:port` could be allowed once the server has resolved `host`: only a
    /// host name (not an IP literal) and a CIDR rule of the key whose port matches. Otherwise the
    /// decision on the name as requested is final, and no resolver is asked.
    public func openMayMatchResolved(host: String, port: Int, key: KeyEntry) -> Bool {
        guard (1...65535).contains(port), IPAddress(host) == nil else { return false }
        return key.permitOpen.contains { rule in
            guard rule.port.matches(port), case .network = rule.host else { return false }
            return true
        }
    }
}
