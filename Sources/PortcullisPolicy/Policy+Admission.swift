import Foundation

extension Policy {
    /// Whether `key` may log in as `user` from `clientAddress` (IP text) at `date`: it must be
    /// known, not expired (`expires` <= `date` is expired), logging in as its `user` if one is
    /// set, and from an address its `from` list admits (nil `clientAddress`: the `from` list is not
    /// consulted, for a dry run that does not say where the client is).
    public func admit(key: PublicKey, user: String, clientAddress: String?, at date: Date) -> KeyAdmission {
        guard let entry = entry(for: key) else {
            return .refused(reason: "unknown key \(key.algorithm) \(key.fingerprint)")
        }
        if let expires = entry.expires, expires <= date {
            return .refused(reason: "key \(entry.name) expired at \(expires.ISO8601Format())")
        }
        if let required = entry.user, required != user {
            return .refused(reason: "key \(entry.name) may log in only as user \"\(required)\", not \"\(user)\"")
        }
        if let from = entry.from, let clientAddress {
            switch from.evaluate(clientAddress) {
            case .matched: break
            case .excluded(let pattern):
                return .refused(reason: "client address \(clientAddress) is excluded by from pattern \"\(pattern.text)\" of key \(entry.name)")
            case .unmatched:
                return .refused(reason: "client address \(clientAddress) matches no from pattern of key \(entry.name)")
            }
        }
        return .admitted(entry)
    }
}
