import Foundation
import Synchronization

/// One forwarded channel as the control socket shows it: what it forwards and the bytes moved so
/// far, which its pump adds to while another thread reads them.
public final class LiveChannel: Sendable {
    public let id: UInt64
    /// The request kind (`tcp-open`, `streamlocal-listen`, ...).
    public let kind: String
    /// What it reaches (`127.0.0.1:5432`, a socket path).
    public let target: String
    public let opened: Date
    /// Bytes sent to the client (socket to channel).
    let toClient = Atomic<UInt64>(0)
    /// Bytes from the client delivered to the socket.
    let fromClient = Atomic<UInt64>(0)
    private let activity: LiveActivity
    /// The daemon's totals, added to with this channel's counts.
    private let forwarded: ForwardedBytes?

    init(id: UInt64, kind: String, target: String, activity: LiveActivity, forwarded: ForwardedBytes? = nil) {
        self.id = id
        self.kind = kind
        self.target = target
        self.activity = activity
        self.forwarded = forwarded
        opened = Date()
    }

    /// The pump moved `count` bytes to the client. One relaxed add and a clock read per chunk.
    @inline(__always)
    func sentToClient(_ count: Int) {
        toClient.add(UInt64(count), ordering: .relaxed)
        forwarded?.toClient.add(UInt64(count), ordering: .relaxed)
        activity.touch()
    }

    /// The pump delivered `count` bytes from the client to the socket.
    @inline(__always)
    func deliveredFromClient(_ count: Int) {
        fromClient.add(UInt64(count), ordering: .relaxed)
        forwarded?.fromClient.add(UInt64(count), ordering: .relaxed)
        activity.touch()
    }

    var snapshot: ControlChannel {
        ControlChannel(id: id, kind: kind, target: target, opened: ControlTime.text(opened),
                       bytesToClient: toClient.load(ordering: .relaxed),
                       bytesFromClient: fromClient.load(ordering: .relaxed))
    }
}

/// When a session last moved data or opened a channel (monotonic nanoseconds).
final class LiveActivity: Sendable {
    private let last = Atomic<UInt64>(Monotonic.now)

    @inline(__always)
    func touch() {
        last.store(Monotonic.now, ordering: .relaxed)
    }

    /// When the session last forwarded data or opened a channel (monotonic nanoseconds).
    var lastActive: UInt64 { last.load(ordering: .relaxed) }

    /// Seconds since the last activity.
    var idleSeconds: Double {
        let now = Monotonic.now
        let then = last.load(ordering: .relaxed)
        return now > then ? Double(now - then) / 1e9 : 0
    }
}
