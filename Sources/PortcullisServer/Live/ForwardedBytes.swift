import Synchronization

/// Every byte the daemon's channels have forwarded since it started, added to by the pumps as
/// they move data: monotonic, read from any thread without a lock (`/metrics`).
public final class ForwardedBytes: Sendable {
    let toClient = Atomic<UInt64>(0)
    let fromClient = Atomic<UInt64>(0)

    public init() {}

    /// Both totals now.
    public func read() -> (toClient: UInt64, fromClient: UInt64) {
        (toClient.load(ordering: .relaxed), fromClient.load(ordering: .relaxed))
    }
}
