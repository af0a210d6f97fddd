extension Policy {
    /// A name publish (`permit_name_publish`) or open (`permit_name_open`): the name must be valid
    /// (``ServiceName``) and the port a fixed one; then deny by default. Whether the name is free,
    /// or would shadow a host, is the server's to check: it alone sees the table and the resolver.
    func decideName(_ name: String, port: Int, publish: Bool, key: KeyEntry) -> Decision {
        let field = publish ? "permit_name_publish" : "permit_name_open"
        guard (1...65535).contains(port) else {
            return .deny(reason: port == 0 && publish ? "a name is published on a fixed port, not 0" : "invalid port \(port)")
        }
        if let problem = ServiceName.problem(name) {
            return .deny(reason: "name \"\(escapedBytes(Array(name.utf8)))\": \(problem)")
        }
        let rules = publish ? key.permitNamePublish : key.permitNameOpen
        guard !rules.isEmpty else { return Self.noRules(field, key) }
        if let rule = rules.first(where: { $0.matches(name, keyName: key.name) }) {
            return .allow(rule: rule.grant)
        }
        return Self.noMatch(field, key, name)
    }
}
