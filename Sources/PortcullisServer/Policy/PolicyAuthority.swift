import Foundation
import PortcullisPolicy

/// Admits keys and decides forwards with the configured policy, the very code `policyctl check`
/// runs. Every decision reads the policy in force, so a reload applies to running sessions too.
public struct PolicyAuthority: SessionAuthority {
    public let store: PolicyStore

    public init(store: PolicyStore) {
        self.store = store
    }

    public var generation: UInt64 { store.generation }

    public func admit(user: String, key: PublicKey, client: Endpoint) -> Admission {
        let policy = store.current
        switch policy.admit(key: key, user: user, clientAddress: client.host, at: Date()) {
        case .admitted(let entry):
            return .admitted(KeyRules(store: store, key: key, keyName: entry.name, user: user))
        case .refused(let reason):
            return .refused(reason: reason, keyName: policy.entry(for: key)?.name)
        }
    }

    /// The rules of one key for one session.
    struct KeyRules: SessionRules {
        let store: PolicyStore
        let key: PublicKey
        let keyName: String
        let user: String

        func decide(_ request: ForwardRequest) -> Decision {
            store.current.decide(request, forKey: key, user: user) ?? removed
        }

        func dynamicPortRanges(host: String) -> [ClosedRange<Int>] {
            let policy = store.current
            guard let entry = policy.entry(for: key) else { return [] }
            return policy.dynamicPortRanges(host: host, key: entry, user: user)
        }

        func decideOpen(host: String, port: Int, resolvedAddresses: [String]) -> (Decision, [String]) {
            let policy = store.current
            guard let entry = policy.entry(for: key) else { return (removed, []) }
            return policy.decideOpen(host: host, port: port, resolvedAddresses: resolvedAddresses,
                                     key: entry, user: user)
        }

        func mayAllowOnceResolved(host: String, port: Int) -> Bool {
            let policy = store.current
            guard let entry = policy.entry(for: key) else { return false }
            return policy.openMayMatchResolved(host: host, port: port, key: entry)
        }

        var usageKey: String { key.fingerprint }

        var namesMayShadowHosts: Bool { store.current.config.namesMayShadowHosts }

        var limits: KeyLimits {
            let policy = store.current
            guard let entry = policy.entry(for: key) else { return policy.config.limits.keyDefaults }
            return policy.limits(for: entry)
        }

        private var removed: Decision {
            .deny(reason: "key \(keyName) is no longer in the configuration")
        }
    }
}
