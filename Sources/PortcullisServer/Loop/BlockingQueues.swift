import Foundation

/// Where work that may block on the network (an etcd call) runs: never on an event loop, which a
/// peer that does not answer would hold for every session on it, and never on the global queues,
/// whose few shared threads such work could take from everything else (signal handling among
/// them). Serial queues, each with a thread of its own when it has work.
public struct BlockingQueues: Sendable {
    private let queues: [DispatchQueue]

    public init(label: String, count: Int = 16) {
        queues = (0..<max(1, count)).map { DispatchQueue(label: "\(label)-\($0)") }
    }

    /// The queue of `owner` (a session id): the same owner's work runs in order.
    public func queue(for owner: UInt64) -> DispatchQueue {
        queues[Int(owner % UInt64(queues.count))]
    }
}
