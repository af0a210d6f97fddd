import PortcullisPolicy

/// Something that happened on the server, in the order it happened within a session. The audit
/// log is written from these; tests wait on them.
public enum ServerEvent: Sendable {
    case sessionOpened(session: UInt64, client: Endpoint)
    case authenticated(session: UInt64, user: String, key: PublicKey, keyName: String)
    case authRefused(session: UInt64, user: String, key: PublicKey, reason: String)
    case forwardRequested(session: UInt64, request: ForwardRequest, decision: Decision)
    /// A listen was set up: `bound` is the actual address and port, or the socket path.
    case forwardBound(session: UInt64, request: ForwardRequest, bound: String)
    /// An allowed request that could not be carried out (bind or connect failed).
    case forwardFailed(session: UInt64, request: ForwardRequest, reason: String)
    case forwardCancelled(session: UInt64, request: ForwardRequest)
    case channelOpened(session: UInt64, channel: UInt64, request: ForwardRequest, originator: String)
    case channelClosed(session: UInt64, channel: UInt64, request: ForwardRequest,
                       bytesToClient: UInt64, bytesFromClient: UInt64, reason: String)
    case sessionClosed(session: UInt64, reason: String)
    /// On start: a socket file under socket_root that nobody accepted on (left by a crash) was removed.
    case staleSocketRemoved(path: String)
}
