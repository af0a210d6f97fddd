import Yams

extension ConfigLoader {
    /// The top-level fields naming the account the daemon runs as (not a key entry's `user:`,
    /// which names the SSH user a key may log in as).
    static let serviceFields = ["user", "group"]

    /// Reads `user` and `group`: each must exist on this system (a name or a number); `group`
    /// without `user` is refused (it would say nothing about whom the daemon runs as).
    static func readService(_ fields: [String: (key: Node, value: Node)], into config: inout PolicyConfig,
                            reader: inout NodeReader) {
        func scalar(_ name: String) -> (String, Node)? {
            guard let node = fields[name]?.value, !NodeReader.isNull(node),
                  let text = reader.string(node, field: name) else { return nil }
            guard ServiceAccount.isPlausibleName(text) else {
                reader.report(node, "\(name) \(NodeReader.quoted(text)): expected a \(name) name or number")
                return nil
            }
            return (text, node)
        }
        let user = scalar("user"), group = scalar("group")
        guard let (name, node) = user else {
            if let (text, groupNode) = group {
                reader.report(groupNode, "group \(NodeReader.quoted(text)): needs user (the account the daemon runs as); "
                              + "without user the daemon keeps the user and groups it was started with")
            }
            return
        }
        switch ServiceAccount.lookup(user: name, group: group?.0) {
        case .success(let account): config.serviceAccount = account
        case .failure(.user):
            reader.report(node, "user \(NodeReader.quoted(name)): no such user on this system")
        case .failure(.group):
            reader.report(group?.1 ?? node, "group \(NodeReader.quoted(group?.0 ?? "")): no such group on this system")
        }
    }
}
