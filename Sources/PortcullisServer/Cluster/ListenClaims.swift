import PortcullisPolicy

/// Where a remote listen is claimed before it is bound, so that it is served by one proxy only.
/// A single daemon grants every claim (`AlwaysGranted`); a cluster member claims it in the
/// tunnel registry (`ClusterListenClaims`).
public protocol ListenClaims: Sendable {
    /// Claims `request` for `session` of the key named `key`. `port`: for a TCP listen of port 0,
    /// the port bound (such a listen is claimed once bound); otherwise nil, before binding.
    func claim(_ request: ForwardRequest, port: Int?, session: UInt64, key: String) -> ListenClaimDecision

    /// Whether claiming `request` may wait on the network (the cluster registry): such a claim is
    /// made off the event loop, its listen held meanwhile. False (the default): the claim answers
    /// at once and is made on the loop.
    func waitsOnNetwork(_ request: ForwardRequest) -> Bool
}

extension ListenClaims {
    public func waitsOnNetwork(_ request: ForwardRequest) -> Bool { false }
}

/// The outcome of a claim.
public enum ListenClaimDecision: Sendable {
    /// Claimed: held until released (nil: nothing to hold, as on a single daemon).
    case granted((any ListenClaim)?)
    /// Not claimed, and why (the forward-failed record's reason).
    case refused(String)
}

/// A claim held for a bound listen.
public protocol ListenClaim: AnyObject, Sendable {
    /// Why the listen may no longer be served ("lease lost"), or nil while it may.
    var lostReason: String? { get }
    /// The listen ended: the claim goes.
    func release()
}

/// The single daemon's claims: every one granted, nothing held.
public struct AlwaysGranted: ListenClaims {
    public init() {}

    public func claim(_ request: ForwardRequest, port: Int?, session: UInt64, key: String) -> ListenClaimDecision {
        .granted(nil)
    }
}
