import CLibSSH
import PortcullisPolicy

/// A session's dead-peer and idle watch: ``SessionLiveness`` and the libssh byte counter it reads.
/// Made when the session authenticates; the worker's loop thread only.
final class SessionAliveWatch {
    /// libssh adds every byte read from and written to the session's socket here.
    let counter = UnsafeMutablePointer<ssh_counter_struct>.allocate(capacity: 1)
    var liveness: SessionLiveness
    /// The key's idle_timeout, read again when the rules change (a reload), not at every step.
    var idleTimeout: Int?
    var rulesGeneration: UInt64 = .max

    init(session: OpaquePointer, interval: Int, countMax: Int) {
        counter.initialize(to: ssh_counter_struct())
        liveness = SessionLiveness(interval: interval, countMax: countMax, now: Monotonic.now)
        ssh_set_counters(session, counter, nil)
    }

    deinit {
        counter.deallocate()
    }
}

extension SessionWorker {
    /// For an authenticated session, each step: takes in what the client sent and what the session
    /// forwarded, asks a silent client whether it is alive, and returns why the session ends (the
    /// client left keepalives unanswered, or the key's idle_timeout passed), or nil.
    func checkAlive() -> String? {
        guard let rules else { return nil }
        let watch: SessionAliveWatch
        if let existing = aliveWatch {
            watch = existing
        } else {
            watch = SessionAliveWatch(session: session, interval: configuration.clientAliveInterval,
                                      countMax: configuration.clientAliveCountMax)
            aliveWatch = watch
        }
        if watch.rulesGeneration != authority.generation {
            watch.rulesGeneration = authority.generation
            watch.idleTimeout = rules.limits.idleTimeout
        }
        let now = Monotonic.now
        let idleTimeout = watch.idleTimeout
        // When the session last forwarded data or opened a channel: what `policyctl sessions`
        // shows as IDLE, the same clock.
        let activity = live.entry?.activity.lastActive ?? 0
        watch.liveness.observe(received: watch.counter.pointee.in_bytes, activity: activity, now: now)
        switch watch.liveness.due(now: now, idleTimeout: idleTimeout) {
        case .none:
            return nil
        case .askClient:
            askClientAlive()
            return nil
        case .end(let reason):
            if reason.hasSuffix("(idle_timeout)") { disconnectMessage = reason }
            return reason
        }
    }

    /// When the alive or idle watch next falls due, if ever.
    var aliveDeadline: UInt64? {
        guard let aliveWatch else { return nil }
        return aliveWatch.liveness.deadline(idleTimeout: aliveWatch.idleTimeout)
    }

    /// Sends keepalive@openssh.com with want-reply. libssh keeps one such request outstanding: a
    /// call while an answer is pending sends nothing; a call after the answer came only takes the
    /// answer in, so a second call then sends the new ask. (The answer itself does not matter:
    /// receiving anything resets the count.)
    private func askClientAlive() {
        _ = ssh_send_keepalive(session)
        _ = ssh_send_keepalive(session)
    }
}
