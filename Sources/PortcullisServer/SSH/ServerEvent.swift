import PortcullisPolicy

/// Something that happened on the server, in the order it happened within a session. The audit
/// log is written from these; tests wait on them.
public enum ServerEvent: Sendable {
    /// A TCP connection was accepted from `client` on the server's address `server`.
    case sessionOpened(session: UInt64, client: Endpoint, server: Endpoint)
    case authenticated(session: UInt64, user: String, key: PublicKey, keyName: String)
    /// A login attempt was refused. `key` is nil for a method other than public key; `keyName`
    /// is set when the key is configured (but expired, say).
    case authRefused(session: UInt64, user: String, key: PublicKey?, keyName: String?, reason: String)
    /// A listen or open was decided. Opens name the `channel` they would become and the
    /// `originator` the client reported.
    case forwardRequested(session: UInt64, request: ForwardRequest, decision: Decision,
                          channel: UInt64? = nil, originator: String? = nil)
    /// A listen was set up: `bound` is the actual address and port, or the socket path.
    case forwardBound(session: UInt64, request: ForwardRequest, bound: String)
    /// An allowed request that could not be carried out (bind or connect failed).
    case forwardFailed(session: UInt64, request: ForwardRequest, reason: String, channel: UInt64? = nil)
    case forwardCancelled(session: UInt64, request: ForwardRequest)
    /// A published name left the table (`request` is its `name-publish`): the client cancelled
    /// it, or its session ended, as `reason` says.
    case nameWithdrawn(session: UInt64, request: ForwardRequest, reason: String)
    case channelOpened(session: UInt64, channel: UInt64, request: ForwardRequest, originator: String)
    case channelClosed(session: UInt64, channel: UInt64, request: ForwardRequest,
                       bytesToClient: UInt64, bytesFromClient: UInt64, duration: Double, reason: String)
    case sessionClosed(session: UInt64, reason: String, duration: Double, channels: UInt64,
                       bytesToClient: UInt64, bytesFromClient: UInt64)
    /// A listen, cancel or open that was refused unread because it is malformed (a field with a NUL
    /// byte or not UTF-8, a port past 65535, a field missing): `kind` as for a request, `target`
    /// with its bytes escaped when it could be read, `reason` naming the request and the fault.
    case requestMalformed(session: UInt64, kind: String, target: String?, reason: String)
    /// An open relayed between proxies: `direction` "to" on the proxy that relays its client's open
    /// to `peer` (the claim's holder), "from" on the holder serving it for member `peer`; the same
    /// `correlation` on both. `reason`: why the relay failed, nil while it works.
    case relay(session: UInt64, channel: UInt64, path: String, correlation: String, peer: String,
               direction: String, reason: String?)
    /// On start: a socket file under socket_root that nobody accepted on (left by a crash) was removed.
    case staleSocketRemoved(path: String)
    /// On start: a socket file under socket_root was found and left untouched: the daemon did not
    /// create it, or something accepts on it. `path` has non-UTF-8 bytes escaped (`\xNN`).
    case socketLeftAlone(path: String, reason: String)
    /// A connection was refused at accept, before any SSH byte (max_startups, per-source limit,
    /// penalty): `client` (nil in a summary of refusals not recorded one by one), why, and how
    /// many other refusals of the same kind since the last such record this one stands for.
    case connectionRefused(client: Endpoint?, reason: String, alsoRefused: Int)
    /// A source's penalty took effect (per_source_penalties): `client` is the address whose
    /// connection tipped it, `source` the block refused, for `seconds` from now.
    case sourcePenalised(client: String, source: String, reason: String, seconds: Double)
}
