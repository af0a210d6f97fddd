import Foundation

/// The sessions running on this daemon, what each holds, and the per-key usage table: what
/// `policyctl status`, `sessions` and `disconnect` read and act on. Thread-safe.
public final class LiveSessions: @unchecked Sendable {
    /// What every key holds, for the per-key limits.
    public let usage = KeyUsage()
    /// Every byte forwarded since start, counted as it moves.
    public let forwarded = ForwardedBytes()
    private let lock = NSLock()
    private var sessions: [UInt64: LiveSession] = [:]
    /// Bytes of the channels that closed, to the client and from it.
    private var closedBytes: (toClient: UInt64, fromClient: UInt64) = (0, 0)

    public init() {}

    func add(_ session: LiveSession) {
        session.forwarded = forwarded
        lock.lock()
        sessions[session.id] = session
        lock.unlock()
    }

    func remove(_ session: LiveSession) {
        lock.lock()
        sessions[session.id] = nil
        lock.unlock()
    }

    /// A channel closed: its bytes go into the daemon's totals.
    func channelClosed(_ channel: LiveChannel) {
        let toClient = channel.toClient.load(ordering: .relaxed)
        let fromClient = channel.fromClient.load(ordering: .relaxed)
        lock.lock()
        closedBytes.toClient &+= toClient
        closedBytes.fromClient &+= fromClient
        lock.unlock()
    }

    private var all: [LiveSession] {
        lock.lock()
        defer { lock.unlock() }
        return sessions.values.sorted { $0.id < $1.id }
    }

    /// Every session (of `key`, when given), oldest first.
    public func snapshot(key: String? = nil) -> [ControlSession] {
        all.filter { key == nil || $0.key == key }.map(\.snapshot)
    }

    /// Ends session `id` for `reason`; returns what it was, nil if there is no such session.
    public func disconnect(id: UInt64, reason: String) -> ControlSession? {
        lock.lock()
        let session = sessions[id]
        lock.unlock()
        guard let session else { return nil }
        let before = session.snapshot
        session.requestDisconnect(reason)
        return before
    }

    /// Ends every session of `key` for `reason`; returns what they were.
    public func disconnect(key: String, reason: String) -> [ControlSession] {
        all.filter { $0.key == key }.map { session in
            let before = session.snapshot
            session.requestDisconnect(reason)
            return before
        }
    }

    /// Counts for `policyctl status`: sessions, listens and channels by kind, bytes since start.
    public func totals() -> ControlTotals {
        let sessions = all
        var listens: [String: Int] = [:]
        var channels: [String: Int] = [:]
        lock.lock()
        var (toClient, fromClient) = closedBytes
        lock.unlock()
        var authenticated = 0
        for session in sessions {
            if session.key != nil { authenticated += 1 }
            for kind in session.listenKinds { listens[kind, default: 0] += 1 }
            for channel in session.openChannels {
                channels[channel.kind, default: 0] += 1
                toClient &+= channel.toClient.load(ordering: .relaxed)
                fromClient &+= channel.fromClient.load(ordering: .relaxed)
            }
        }
        return ControlTotals(sessions: sessions.count, authenticatedSessions: authenticated, listens: listens,
                             channels: channels, bytesToClient: toClient, bytesFromClient: fromClient)
    }
}
