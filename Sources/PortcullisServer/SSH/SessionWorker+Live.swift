import Foundation
import PortcullisPolicy

/// What a session shows the control socket and counts against its key's limits: its entry in
/// `LiveSessions`, the key it is counted under, and the handles of its listens there.
final class SessionLiveState {
    let sessions: LiveSessions
    var entry: LiveSession?
    /// The key this session is counted under (one of its max_sessions), once admitted.
    var countedKey: String?
    /// Each listen's handle in `entry`, by forward.
    var listens: [ObjectIdentifier: (key: String, handle: UInt64)] = [:]

    init(sessions: LiveSessions) {
        self.sessions = sessions
    }
}

/// One resource taken from a key's limit (a channel), given back exactly once: explicitly, or
/// when the last holder lets go of it (an open that ends on any path).
final class KeySlot: @unchecked Sendable {
    private let usage: KeyUsage
    let key: String
    private let resource: KeyUsage.Resource
    private var released = false

    init(usage: KeyUsage, key: String, resource: KeyUsage.Resource) {
        self.usage = usage
        self.key = key
        self.resource = resource
    }

    func release() {
        guard !released else { return }
        released = true
        usage.release(resource, key: key)
    }

    deinit {
        release()
    }
}

extension SessionWorker {
    /// Shows the session on the control socket; an administrator's disconnect wakes its loop.
    func enterLive() {
        let loop = self.loop!
        let entry = LiveSession(id: id, client: client.description) { [weak self] in
            loop.post { [weak self] in
                if let self { loop.markDue(self) }
            }
        }
        live.entry = entry
        live.sessions.add(entry)
    }

    /// The session authenticated: it counts against its key's max_sessions, or ends at once with
    /// the reason as its SSH_MSG_DISCONNECT (and its session-close record).
    func admitToKeyLimits() {
        guard live.countedKey == nil, closeReason == nil, let rules, let user = core.login?.user else { return }
        if let reason = live.sessions.usage.take(.session, key: rules.usageKey, name: rules.keyName, limit: rules.limits.maxSessions) {
            closeReason = reason
            disconnectMessage = reason
            return
        }
        live.countedKey = rules.usageKey
        live.entry?.authenticated(keyName: rules.keyName, user: user)
    }

    /// Why an administrator ended the session, if one did.
    var administratorDisconnect: String? {
        live.entry?.disconnectRequest
    }

    /// Why one more listen of this key would be refused by max_listens now, or nil.
    func listenLimitRefusal() -> String? {
        guard let rules else { return nil }
        return live.sessions.usage.wouldRefuse(.listen, key: rules.usageKey, name: rules.keyName, limit: rules.limits.maxListens)
    }

    /// Takes a listen from the key's max_listens; the reason if none is left.
    func takeListen() -> String? {
        guard let rules else { return "not authenticated" }
        return live.sessions.usage.take(.listen, key: rules.usageKey, name: rules.keyName, limit: rules.limits.maxListens)
    }

    /// Gives back a listen taken by `takeListen` that did not come to be bound.
    func returnListen() {
        guard let rules else { return }
        live.sessions.usage.release(.listen, key: rules.usageKey)
    }

    /// `forward` is bound: shown on the control socket.
    func listenBound(_ forward: RemoteForward) {
        guard let rules, let entry = live.entry else { return }
        let handle = entry.addListen(kind: forward.request.kind, target: forward.bound)
        live.listens[ObjectIdentifier(forward)] = (rules.usageKey, handle)
    }

    /// `forward` is cancelled or its session ends: its listen goes back to the key.
    func listenEnded(_ forward: RemoteForward) {
        guard let (key, handle) = live.listens.removeValue(forKey: ObjectIdentifier(forward)) else { return }
        live.entry?.removeListen(handle)
        live.sessions.usage.release(.listen, key: key)
    }

    /// Takes a channel from the key's max_channels (`.channel` for an open of the key's own,
    /// `.arrival` for a connection to one of its listens): the slot, or the refusal's reason.
    func takeChannel(_ resource: KeyUsage.Resource = .channel) -> Result<KeySlot, ChannelLimitRefusal> {
        guard let rules else { return .failure(ChannelLimitRefusal(reason: "not authenticated")) }
        let usage = live.sessions.usage
        if let reason = usage.take(resource, key: rules.usageKey, name: rules.keyName, limit: rules.limits.maxChannels) {
            return .failure(ChannelLimitRefusal(reason: reason))
        }
        return .success(KeySlot(usage: usage, key: rules.usageKey, resource: resource))
    }

    /// `pump` moves bytes: shown on the control socket with its byte counts.
    func track(_ pump: ChannelPump, slot: KeySlot?) {
        pump.slot = slot
        pump.live = live.entry?.addChannel(id: pump.channelID, kind: pump.request.kind, target: pump.request.target)
    }

    /// `pump` closed: its bytes go into the daemon's totals, its channel back to the key.
    func untrack(_ pump: ChannelPump) {
        pump.slot?.release()
        pump.slot = nil
        if let channel = pump.live, live.entry?.removeChannel(id: channel.id) != nil {
            live.sessions.channelClosed(channel)
        }
    }

    /// The session ended: everything it held goes back to its key, and it leaves the control socket.
    func leaveLive() {
        for (key, _) in live.listens.values {
            live.sessions.usage.release(.listen, key: key)
        }
        live.listens = [:]
        if let key = live.countedKey {
            live.sessions.usage.release(.session, key: key)
            live.countedKey = nil
        }
        if let entry = live.entry {
            live.sessions.remove(entry)
        }
    }
}

/// Why a channel was refused by max_channels.
struct ChannelLimitRefusal: Error {
    let reason: String
}
