import Foundation

/// One session as the control socket shows it; the session's worker fills it in on its loop's
/// thread, the control socket reads it from its own.
public final class LiveSession: @unchecked Sendable {
    public let id: UInt64
    public let client: String
    public let started = Date()
    let activity = LiveActivity()
    /// The daemon's totals its channels add to (set when the session is added to LiveSessions).
    var forwarded: ForwardedBytes?
    private let lock = NSLock()
    private var keyName: String?
    private var user: String?
    private var listens: [UInt64: (kind: String, target: String)] = [:]
    private var nextListen: UInt64 = 0
    private var channels: [UInt64: LiveChannel] = [:]
    private var disconnectReason: String?
    /// Makes the session's loop step it soon (set by the worker when it starts).
    private let wake: @Sendable () -> Void

    init(id: UInt64, client: String, wake: @escaping @Sendable () -> Void) {
        self.id = id
        self.client = client
        self.wake = wake
    }

    /// The key `name` authenticated as `user`.
    func authenticated(keyName name: String, user: String) {
        lock.lock()
        keyName = name
        self.user = user
        lock.unlock()
    }

    var key: String? {
        lock.lock()
        defer { lock.unlock() }
        return keyName
    }

    /// A listen is bound (`target`: `127.0.0.1:8080` or a socket path); returns its handle.
    func addListen(kind: String, target: String) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        nextListen += 1
        listens[nextListen] = (kind, target)
        return nextListen
    }

    func removeListen(_ handle: UInt64) {
        lock.lock()
        listens[handle] = nil
        lock.unlock()
    }

    /// A channel is open and moving bytes.
    func addChannel(id: UInt64, kind: String, target: String) -> LiveChannel {
        let channel = LiveChannel(id: id, kind: kind, target: target, activity: activity, forwarded: forwarded)
        activity.touch()
        lock.lock()
        channels[id] = channel
        lock.unlock()
        return channel
    }

    /// The channel closed; returns it (for the totals) if it was there.
    @discardableResult
    func removeChannel(id: UInt64) -> LiveChannel? {
        lock.lock()
        defer { lock.unlock() }
        return channels.removeValue(forKey: id)
    }

    /// Asks the session to end for `reason`; it ends at its next step (soon: its loop is woken).
    func requestDisconnect(_ reason: String) {
        lock.lock()
        if disconnectReason == nil { disconnectReason = reason }
        lock.unlock()
        wake()
    }

    /// Why an administrator ended the session, if one did.
    var disconnectRequest: String? {
        lock.lock()
        defer { lock.unlock() }
        return disconnectReason
    }

    /// What the control socket says about it.
    var snapshot: ControlSession {
        lock.lock()
        let (key, user) = (keyName, self.user)
        let listens = self.listens.sorted { $0.key < $1.key }.map(\.value.target)
        let channels = self.channels.values.sorted { $0.id < $1.id }
        lock.unlock()
        return ControlSession(id: id, key: key, user: user, client: client, started: ControlTime.text(started),
                              idleSeconds: (activity.idleSeconds * 10).rounded() / 10, listens: listens,
                              channels: channels.map(\.snapshot))
    }

    var openChannels: [LiveChannel] {
        lock.lock()
        defer { lock.unlock() }
        return Array(channels.values)
    }

    /// The kinds of the listens held (one entry per listen).
    var listenKinds: [String] {
        lock.lock()
        defer { lock.unlock() }
        return listens.values.map(\.kind)
    }
}
