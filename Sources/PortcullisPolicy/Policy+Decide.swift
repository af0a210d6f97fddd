extension Policy {
    /// Whether the session of `key`, logged in as `user`, may do `request`. Deny by default: an
    /// absent or empty rule list refuses that kind. A grant carries the rule's location and pattern (``Grant``).
    /// For `.tcpOpen` nothing is resolved: a CIDR rule grants only a literal IP inside it; the
    /// server should use `decideOpen(host:port:resolvedAddresses:key:user:)` once it has resolved.
    public func decide(_ request: ForwardRequest, key: KeyEntry, user: String) -> Decision {
        switch request {
        case .tcpListen(let host, let port): decideListen(host: host, port: port, key: key)
        case .tcpOpen(let host, let port): decideOpen(host: host, port: port, key: key)
        case .streamLocalListen(let path): decideStreamLocal(path: path, listen: true, key: key, user: user)
        case .streamLocalOpen(let path): decideStreamLocal(path: path, listen: false, key: key, user: user)
        case .namePublish(let name, let port): decideName(name, port: port, publish: true, key: key)
        case .nameOpen(let name, let port): decideName(name, port: port, publish: false, key: key)
        }
    }

    /// ``decide(_:key:user:)`` for the entry of `publicKey` (the session's path: the entry is
    /// looked up and used in place, not copied); nil if the key is not configured.
    public func decide(_ request: ForwardRequest, forKey publicKey: PublicKey, user: String) -> Decision? {
        guard let index = index(of: publicKey) else { return nil }
        return decide(request, key: config.keys[index], user: user)
    }

    /// The denial when `key` has no rules of `kind` (a YAML field name): omitted, or written as
    /// the explicit `none`, which the reason names with its place.
    static func noRules(_ kind: String, _ key: KeyEntry) -> Decision {
        if let at = key.explicitNone[kind] {
            return .deny(reason: "key \(key.name) has \(kind): none (\(at))")
        }
        return .deny(reason: "key \(key.name) has no \(kind) rules")
    }

    static func noMatch(_ kind: String, _ key: KeyEntry, _ target: String) -> Decision {
        .deny(reason: "no \(kind) rule of key \(key.name) matches \(target)")
    }
}
