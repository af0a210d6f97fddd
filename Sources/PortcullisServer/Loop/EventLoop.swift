import CLibSSH
import Foundation

/// One worker thread and its epoll instance: it owns the sessions handed to it and steps each of
/// them only when something happened to it.
///
/// Every session has a libssh event of its own holding only its socket, so a libssh call made for
/// one session (a key exchange, a channel write that flushes) polls that session's socket and
/// nothing else: no other session's callbacks run inside it, and no peer's end of file is seen on
/// behalf of another session. The loop multiplexes the sessions with epoll. A session is stepped
/// when one of its descriptors is ready (its socket, its forwards' sockets and listeners), when a
/// deadline of its own is due, when the audit records it waits for are written, or when something
/// posted from another thread concerns it; an idle session costs nothing.
///
/// Other threads reach the loop through `adopt`, `post`, `recorderProgressed` and `stepAll`,
/// which wake it through an eventfd.
final class EventLoop: @unchecked Sendable {
    private let epoll: Int32
    private let wakeFD: Int32
    private let lock = NSLock()
    // Shared with other threads, under `lock`.
    private var incoming: [SessionWorker] = []
    private var posted: [() -> Void] = []
    private var recorderMoved = false
    private var everyoneDue = false
    private var load = 0
    private var stopWhenIdle = false

    // The loop thread's own.
    private var sessions: [ObjectIdentifier: SessionWorker] = [:]
    private var watches: [UInt64: Watch] = [:]
    private var nextToken: UInt64 = 1
    private var timers = TimerQueue()
    private var scheduled: [ObjectIdentifier: UInt64] = [:]
    private var due: [ObjectIdentifier: SessionWorker] = [:]
    private var awaitingRecorder: Set<ObjectIdentifier> = []
    /// Signalled when the loop's thread leaves its loop (after `finishWhenIdle`, its last session gone).
    private let ended = DispatchSemaphore(value: 0)
    private static let wakeToken: UInt64 = 0
    private static let batch = 256

    init(name: String) throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw ServerError(description: "epoll_create1: \(String(cString: strerror(errno)))") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            close(epoll)
            throw ServerError(description: "eventfd: \(String(cString: strerror(errno)))")
        }
        guard portcullis_epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, UInt32(EPOLLIN.rawValue), Self.wakeToken) == 0 else {
            close(epoll)
            close(wakeFD)
            throw ServerError(description: "epoll_ctl: \(String(cString: strerror(errno)))")
        }
        let thread = Thread { [self] in
            run()
            ended.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// How many sessions this loop owns or is about to.
    var sessionCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return load
    }

    // MARK: - From any thread

    /// Lets the thread end once its last session has ended (the server accepts no more), and has
    /// every session look at whether it should end now.
    func finishWhenIdle() {
        lock.lock()
        stopWhenIdle = true
        everyoneDue = true
        lock.unlock()
        wakeUp()
    }

    /// Waits until the loop's thread has left its loop, at most until `deadline`.
    func waitUntilEnded(deadline: Date) -> Bool {
        guard ended.wait(timeout: .now() + max(0, deadline.timeIntervalSinceNow)) == .success else { return false }
        ended.signal()
        return true
    }

    /// Takes over a session that has just been accepted; false once the loop is finishing.
    func adopt(_ worker: SessionWorker) -> Bool {
        lock.lock()
        if stopWhenIdle {
            lock.unlock()
            return false
        }
        incoming.append(worker)
        load += 1
        lock.unlock()
        wakeUp()
        return true
    }

    /// Runs `work` on the loop's thread soon (a resolver's answer, say). `work` marks whatever
    /// session it concerns as due.
    func post(_ work: @escaping () -> Void) {
        lock.lock()
        posted.append(work)
        lock.unlock()
        wakeUp()
    }

    /// More audit records are written: sessions holding replies back may send them now.
    func recorderProgressed() {
        lock.lock()
        let already = recorderMoved
        recorderMoved = true
        lock.unlock()
        if !already { wakeUp() }
    }

    /// Has every session look at its state again (the rules changed, the server is stopping).
    func stepAll() {
        lock.lock()
        everyoneDue = true
        lock.unlock()
        wakeUp()
    }

    private func wakeUp() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: - On the loop's thread

    /// Watches `fd` for `session`; `onReady` runs on this thread with the poll(2) events seen,
    /// and the session is stepped after it.
    func watch(_ fd: Int32, for session: SessionWorker, events: UInt32 = 0,
               onReady: @escaping (UInt32) -> Void) -> Watch {
        let watch = Watch(fd: fd, token: nextToken, owner: session, loop: self, onReady: onReady)
        nextToken += 1
        watches[watch.token] = watch
        watch.set(events)
        return watch
    }

    /// Forgets a cancelled watch: epoll may still report it in the batch being handled, and is
    /// ignored then.
    func forget(_ watch: Watch) {
        watches[watch.token] = nil
    }

    /// epoll_ctl; false if it failed (a descriptor already closed, say).
    @discardableResult
    func epollControl(_ op: Int32, fd: Int32, events: UInt32, token: UInt64) -> Bool {
        portcullis_epoll_ctl(epoll, op, fd, events, token) == 0
    }

    /// Steps `session` in this turn of the loop (or the next, if it is being stepped now).
    func markDue(_ session: SessionWorker) {
        let id = ObjectIdentifier(session)
        guard sessions[id] != nil else { return }
        due[id] = session
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: Self.batch)
        var events = [UInt32](repeating: 0, count: Self.batch)
        while true {
            lock.lock()
            let arrived = incoming
            incoming = []
            let work = posted
            posted = []
            let recorded = recorderMoved
            recorderMoved = false
            let everyone = everyoneDue
            everyoneDue = false
            let done = stopWhenIdle && load == 0
            lock.unlock()
            if done { break }

            for worker in arrived {
                sessions[ObjectIdentifier(worker)] = worker
                worker.start(in: self)
                markDue(worker)
            }
            work.forEach { $0() }
            if recorded {
                for id in awaitingRecorder {
                    if let worker = sessions[id] { markDue(worker) }
                }
            }
            if everyone {
                for worker in sessions.values { markDue(worker) }
            }
            stepDueSessions()

            let timeout = waitTimeout()
            let count = portcullis_epoll_wait(epoll, &tokens, &events, Int32(Self.batch), timeout)
            if count < 0 && errno != EINTR {
                // Nothing sensible is left to do without epoll; avoid a spin while it lasts.
                usleep(10_000)
            }
            for index in 0..<max(0, Int(count)) {
                if tokens[index] == Self.wakeToken {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                guard let watch = watches[tokens[index]] else { continue }
                watch.fire(events[index])
                markDue(watch.owner)
            }
            for entry in timers.popDue(now: Monotonic.now) where scheduled[entry.session] == entry.deadline {
                scheduled[entry.session] = nil
                if let worker = sessions[entry.session] { markDue(worker) }
            }
        }
        close(wakeFD)
        close(epoll)
    }

    /// Steps every session marked due, once each; a session marked again while it was stepped
    /// (more work it left for the next turn) is stepped on the next turn.
    private func stepDueSessions() {
        guard !due.isEmpty else { return }
        let now = due
        due = [:]
        var ended = 0
        for (id, worker) in now {
            if worker.step() {
                afterStep(worker, id: id)
            } else {
                worker.finish()
                sessions[id] = nil
                awaitingRecorder.remove(id)
                scheduled[id] = nil
                due[id] = nil
                ended += 1
            }
        }
        if ended > 0 {
            lock.lock()
            load -= ended
            lock.unlock()
        }
    }

    /// After a step: watch the session's socket for what libssh wants now, and remember when and
    /// on what it waits.
    private func afterStep(_ worker: SessionWorker, id: ObjectIdentifier) {
        worker.watchSocket()
        if worker.awaitsRecorder {
            awaitingRecorder.insert(id)
        } else {
            awaitingRecorder.remove(id)
        }
        if let deadline = worker.nextDeadline {
            if scheduled[id] != deadline {
                scheduled[id] = deadline
                timers.schedule(id, at: deadline)
            }
        } else {
            scheduled[id] = nil
        }
    }

    /// Milliseconds until the earliest deadline; 0 when sessions are due already; at most a
    /// second, so that nothing missed can wait long.
    private func waitTimeout() -> Int32 {
        guard due.isEmpty else { return 0 }
        guard let earliest = timers.earliest else { return 1000 }
        let now = Monotonic.now
        guard earliest > now else { return 0 }
        return Int32(min(1000, (earliest - now + 999_999) / 1_000_000))
    }
}
