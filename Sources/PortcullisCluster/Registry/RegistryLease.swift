/// The lease/fencing decisions of a proxy's tunnel registry, apart from any I/O: times in
/// (monotonic seconds), decisions out. `TunnelRegistry` feeds it what etcd answered and carries
/// out what it says.
///
/// A lease is *confirmed* at the time a grant or keep-alive request that etcd answered was sent:
/// etcd renewed it no earlier, so it cannot expire on etcd before `confirmedAt + ttl`. The proxy
/// stops serving its claims at `confirmedAt + ttl - margin` (fencing), before any other proxy can
/// see them gone. Once fenced, a lease is never used again: the next step is a new lease.
public struct RegistryLease: Sendable, Equatable {
    /// The TTL asked for, in seconds.
    public let requestedTTL: Double

    /// The lease in use, if any, with the TTL etcd granted and when it was last confirmed.
    public private(set) var lease: LeaseID?
    public private(set) var ttl: Double
    public private(set) var confirmedAt: Double?
    /// When the last grant or keep-alive was sent, answered or not.
    public private(set) var lastAttemptAt: Double?
    /// Why the registry is unreachable, while it is (the last attempt failed).
    public private(set) var failure: String?
    /// A lease given up (fenced, or lost): to revoke once etcd answers, so that its records go at once.
    public private(set) var retired: LeaseID?

    public init(ttl: Double) {
        requestedTTL = ttl
        self.ttl = ttl
    }

    /// How long before the lease can expire on etcd the proxy stops serving its claims: a fifth of
    /// the TTL (covering scheduling delays and clock-rate differences), at least 100 ms.
    public var margin: Double { max(ttl / 5, 0.1) }
    /// Keep-alives go every third of the TTL; after a failure, every tenth (at least 100 ms).
    public var keepAliveInterval: Double { ttl / 3 }
    public var retryInterval: Double { max(ttl / 10, 0.1) }

    /// Until when the current lease may be served (nil: no lease).
    public var servingUntil: Double? {
        guard lease != nil, let confirmedAt else { return nil }
        return confirmedAt + ttl - margin
    }

    /// What the registry does next.
    public enum Step: Sendable, Equatable {
        /// Get a new lease (and register the member), first revoking `revoking` if set.
        case grant(revoking: LeaseID?)
        /// Renew the lease.
        case keepAlive(LeaseID)
        /// Stop serving every claim of this lease now (its confirmation is too old).
        case fence(LeaseID)
        /// Nothing until this time.
        case wait(until: Double)
    }

    /// The step due at `now`.
    public func next(now: Double) -> Step {
        guard let lease, let until = servingUntil else {
            if let lastAttemptAt, failure != nil, now < lastAttemptAt + retryInterval {
                return .wait(until: lastAttemptAt + retryInterval)
            }
            return .grant(revoking: retired)
        }
        if now >= until { return .fence(lease) }
        let interval = failure == nil ? keepAliveInterval : retryInterval
        let due = (lastAttemptAt ?? confirmedAt ?? now) + interval
        if now >= due { return .keepAlive(lease) }
        return .wait(until: min(due, until))
    }

    /// Whether a new claim may be made at `now`: the lease to put it with, or why not.
    public func claimable(now: Double) -> Result<LeaseID, RegistryUnavailable> {
        if let failure { return .failure(RegistryUnavailable(reason: "cluster registry unreachable: \(failure)")) }
        guard let lease, let until = servingUntil else {
            return .failure(RegistryUnavailable(reason: "cluster registry unreachable: no lease held"))
        }
        guard now < until else {
            return .failure(RegistryUnavailable(reason: "cluster registry unreachable: lease not confirmed since \(Self.seconds(now - (confirmedAt ?? now))) s"))
        }
        return .success(lease)
    }

    /// Whether claims of `claimLease` may be served at `now` (accepting connections on them).
    public func serves(_ claimLease: LeaseID, now: Double) -> Bool {
        guard claimLease == lease, let until = servingUntil else { return false }
        return now < until
    }

    // MARK: - What etcd answered

    /// A grant or keep-alive is being sent at `now`.
    public mutating func attempting(at now: Double) {
        lastAttemptAt = now
    }

    /// A new lease, granted for `ttl` seconds by a request sent at `sentAt`.
    public mutating func granted(_ newLease: LeaseID, ttl granted: Double, sentAt: Double) {
        if let lease, lease != newLease { retired = lease }
        lease = newLease
        ttl = granted
        confirmedAt = sentAt
        failure = nil
    }

    /// The member record could not be written with the new lease: it is given up (revoked next).
    public mutating func abandon(reason: String) {
        if let lease { retired = lease }
        lease = nil
        confirmedAt = nil
        failure = reason
    }

    /// A keep-alive of `renewed`, sent at `sentAt`, was answered with `ttl`.
    public mutating func confirmed(_ renewed: LeaseID, ttl granted: Double, sentAt: Double) {
        guard renewed == lease, let until = servingUntil, sentAt < until else { return }
        ttl = granted
        confirmedAt = max(confirmedAt ?? sentAt, sentAt)
        failure = nil
    }

    /// A grant or keep-alive got no answer (etcd unreachable, timed out).
    public mutating func failed(_ reason: String) {
        failure = reason
    }

    /// etcd says the lease no longer exists: nothing of it may be served; a new one is next.
    public mutating func lost(_ gone: LeaseID) {
        guard gone == lease else { return }
        lease = nil
        confirmedAt = nil
        failure = nil
    }

    /// The lease was fenced (its claims are no longer served): it is retired, a new one is next.
    public mutating func fenced(_ fencedLease: LeaseID) {
        guard fencedLease == lease else { return }
        retired = fencedLease
        lease = nil
        confirmedAt = nil
    }

    /// The retired lease was revoked (or found gone).
    public mutating func revoked(_ revokedLease: LeaseID) {
        if retired == revokedLease { retired = nil }
    }

    private static func seconds(_ value: Double) -> String {
        String(Double(Int((value * 10).rounded())) / 10)
    }
}

/// Why a claim cannot be made now: the reason the client's refusal is audited with.
public struct RegistryUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
