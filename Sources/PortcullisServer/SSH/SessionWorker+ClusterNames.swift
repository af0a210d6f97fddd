import CLibSSH
import Foundation
import PortcullisPolicy

extension SessionWorker {
    // MARK: - The proxy a consumer opens on (B)

    /// A `direct-tcpip` to a name this proxy does not publish, in cluster mode: the registry says
    /// (off the loop) whether another member publishes it. If one does, the open is decided here
    /// by `permit_name_open` and relayed to that member over the member link; otherwise it goes on
    /// as an ordinary host, as on a single daemon.
    func openRemoteName(_ attempt: OpenAttempt, name: String, port: Int, peering: Peering) {
        let pending = PendingNameLookup(attempt: attempt, name: name, port: port)
        nameLookups.append(pending)
        let loop = self.loop!
        peering.lookupName(name) { [weak self] result in
            loop.post {
                pending.result = result
                if let self { loop.markDue(self) }
            }
        }
    }

    /// Between polls: name lookups the registry answered go on.
    func serviceNameLookups() {
        guard nameLookups.contains(where: { $0.result != nil }) else { return }
        let current = nameLookups
        nameLookups = []
        for pending in current {
            guard let result = pending.result else {
                nameLookups.append(pending)
                continue
            }
            concludeNameLookup(pending, result: result)
        }
    }

    private func concludeNameLookup(_ pending: PendingNameLookup, result: Result<NameClaim?, any Error>) {
        var attempt = pending.attempt
        let (name, port) = (pending.name, pending.port)
        guard let peering = configuration.peering else { return }
        let claim: NameClaim
        switch result {
        case .failure(let error):
            attempt.request = .nameOpen(name: name, port: port)
            failed(attempt, reason: "the cluster registry is unreachable: \(error)")
            return
        case .success(let found):
            // Published nowhere, or by this proxy (the table said no a moment ago): an ordinary host.
            guard let found, found.proxy != peering.proxyID else {
                if let holder = names.lookup(name) {
                    openName(attempt, name: name, port: port, holder: holder)
                } else {
                    openTCP(attempt, host: name, port: port)
                }
                return
            }
            claim = found
        }
        attempt.request = .nameOpen(name: name, port: port)
        var decision = rules?.decide(attempt.request) ?? .deny(reason: "not authenticated")
        if decision.isAllowed, claim.port != port {
            decision = .deny(reason: "name \(name) is published on port \(claim.port), not \(port)")
        }
        guard record(decision, for: attempt), let rules else { return }
        let correlation = "\(peering.proxyID)-\(id)-\(attempt.channel)-\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let relay = PendingRelay(attempt: attempt, path: name, relativePath: "\(name):\(port)", correlation: correlation,
                                 rules: rules)
        relaying.append(relay)
        let loop = self.loop!
        peering.openName(name, port: port, on: claim.proxy, correlation: correlation) { [weak self] outcome in
            loop.post {
                relay.outcome = outcome
                if relay.abandoned {
                    relay.discard()
                } else if let self {
                    loop.markDue(self)
                }
            }
        }
    }

    /// The session is ending: name lookups still waiting for the registry are let go.
    func abandonNameLookups() {
        for pending in nameLookups {
            ssh_message_free(pending.attempt.message)
        }
        nameLookups = []
    }

    // MARK: - The proxy that publishes the name (A)

    /// Whether `text` may be a relay's correlation id: 1 to 128 letters, digits, `.-_:`.
    static func isCorrelationID(_ text: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:".utf8)
        return (1...128).contains(text.utf8.count) && text.utf8.allSatisfy(allowed.contains)
    }

    /// A member's `direct-tcpip` NAME:PORT: served only for a name one of this proxy's sessions
    /// publishes, delivered to that session as a local open is; both sides' records carry the
    /// correlation id.
    func serveMemberName(_ attempt: OpenAttempt, name: String, port: Int, correlation: String, rules: MemberRules) {
        var attempt = attempt
        attempt.request = .nameOpen(name: name, port: port)
        let proxy = configuration.peering?.proxyID ?? "this proxy"
        let holder = ServiceName.isNameRequest(name) ? names.lookup(name) : nil
        let refusal = holder == nil ? "name \(name) is not published on proxy \(proxy)" : nil
        report(.relay(session: id, channel: attempt.channel, path: "\(name):\(port)", correlation: correlation,
                      peer: rules.member, direction: "from", reason: refusal))
        guard let holder else {
            failed(attempt, reason: refusal ?? "")
            return
        }
        openName(attempt, name: name, port: port, holder: holder)
    }
}

/// A `direct-tcpip` to a name while the registry is asked who publishes it.
final class PendingNameLookup: @unchecked Sendable {
    let attempt: OpenAttempt
    let name: String
    let port: Int
    /// Set on the loop's thread when the registry answered.
    var result: Result<NameClaim?, any Error>?

    init(attempt: OpenAttempt, name: String, port: Int) {
        self.attempt = attempt
        self.name = name
        self.port = port
    }
}
