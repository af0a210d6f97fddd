extension Policy {
    func decideListen(host: String, port: Int, key: KeyEntry) -> Decision {
        let target = ForwardRequest.tcpListen(host: host, port: port).target
        guard (0...65535).contains(port) else { return .deny(reason: "invalid port \(port)") }
        if port != 0, port < 1024, !config.allowPrivilegedPorts {
            return .deny(reason: "port \(port) is privileged (below 1024) and allow_privileged_ports is off")
        }
        guard !key.permitListen.isEmpty else { return Self.noRules("permit_listen", key) }
        if port == 0 {
            guard let rule = dynamicRules(host: host, key: key).first else {
                return .deny(reason: "no permit_listen rule of key \(key.name) matches \(target) (a dynamic port needs a * or range rule)")
            }
            return .allow(rule: rule.rule.grant)
        }
        for rule in key.permitListen where rule.port.matches(port) && rule.matchesHost(host) {
            return .allow(rule: rule.grant)
        }
        return Self.noMatch("permit_listen", key, target)
    }

    /// For a dynamic (port 0) listen on `host`: the port ranges the server may allocate from,
    /// merged and sorted (`*` gives 1024-65535; a range gives itself, clipped to 1024 and up
    /// unless allow_privileged_ports). Empty if no rule allows it.
    public func dynamicPortRanges(host: String, key: KeyEntry, user: String) -> [ClosedRange<Int>] {
        let ranges = dynamicRules(host: host, key: key).map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<Int>] = []
        for range in ranges {
            if let last = merged.last, range.lowerBound <= last.upperBound + 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    private func dynamicRules(host: String, key: KeyEntry) -> [(rule: ListenRule, range: ClosedRange<Int>)] {
        key.permitListen.compactMap { rule in
            guard rule.matchesHost(host),
                  let range = rule.port.dynamicRange(allowPrivileged: config.allowPrivilegedPorts) else { return nil }
            return (rule, range)
        }
    }
}
