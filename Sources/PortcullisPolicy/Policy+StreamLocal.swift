extension Policy {
    func decideStreamLocal(path: String, listen: Bool, key: KeyEntry, user: String) -> Decision {
        let kind = listen ? "permit_streamlocal_listen" : "permit_streamlocal_open"
        if let problem = PathValidation.problem(in: path) { return .deny(reason: "malformed path: \(problem)") }
        if listen, !PathValidation.path(path, isUnder: config.socketRoot) {
            return .deny(reason: "\(path) is outside socket_root \(config.socketRoot)")
        }
        let rules = listen ? key.permitStreamLocalListen : key.permitStreamLocalOpen
        guard !rules.isEmpty else { return Self.noRules(kind, key) }
        for rule in rules where rule.pattern.matches(path, keyName: key.name, userName: user) {
            return .allow(rule: rule.description)
        }
        return Self.noMatch(kind, key, path)
    }
}
