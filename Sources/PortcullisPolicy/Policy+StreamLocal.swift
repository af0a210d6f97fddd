extension Policy {
    func decideStreamLocal(path: String, listen: Bool, key: KeyEntry, user: String) -> Decision {
        let kind = listen ? "permit_streamlocal_listen" : "permit_streamlocal_open"
        if let problem = PathValidation.problem(in: path) { return .deny(reason: "malformed path: \(problem)") }
        if listen, !PathValidation.path(path, isUnder: config.socketRoot) {
            return .deny(reason: "\(path) is outside socket_root \(config.socketRoot)")
        }
        let rules = listen ? key.permitStreamLocalListen : key.permitStreamLocalOpen
        guard !rules.isEmpty else { return Self.noRules(kind, key) }
        // By index: the rules are matched in place, not copied one by one.
        for index in rules.indices where rules[index].pattern.matches(path, keyName: key.name, userName: user) {
            return .allow(rule: rules[index].grant)
        }
        return Self.noMatch(kind, key, path)
    }
}
