import CLibSSH
import Foundation

/// One worker thread and its libssh event: it owns the sessions handed to it and drives each of
/// them (key exchange, authentication, forwards) without blocking on any one of them.
///
/// The acceptor hands sessions over through `adopt`, which wakes the loop through a pipe in its
/// event. Everything else about a session happens on this thread.
final class EventLoop: @unchecked Sendable {
    private let event: OpaquePointer
    private let wake: (read: Int32, write: Int32)
    private let lock = NSLock()
    private var incoming: [SessionWorker] = []
    private var sessions: [SessionWorker] = []
    private var load = 0
    private var stopWhenIdle = false

    init(name: String) throws {
        guard let event = ssh_event_new() else { throw ServerError(description: "ssh_event_new failed") }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ServerError(description: "pipe failed") }
        fds.forEach(Socket.makeNonBlocking)
        self.event = event
        self.wake = (fds[0], fds[1])
        ssh_event_add_fd(event, wake.read, Int16(POLLIN), { fd, _, _ in
            var drain = [UInt8](repeating: 0, count: 64)
            while read(fd, &drain, drain.count) > 0 {}
            return 0
        }, nil)
        let thread = Thread { [self] in run() }
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

    /// Lets the thread end once its last session has ended (the server accepts no more).
    func finishWhenIdle() {
        lock.lock()
        stopWhenIdle = true
        lock.unlock()
        wakeUp()
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

    /// Has the loop look at its sessions again now (something they wait for happened).
    func wakeUp() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    private func run() {
        while true {
            lock.lock()
            let arrived = incoming
            incoming = []
            let done = stopWhenIdle && load == 0
            lock.unlock()
            if done { break }
            for worker in arrived {
                worker.start(in: event)
                sessions.append(worker)
            }
            ssh_event_dopoll(event, 1000)
            // Each session does its work between polls; one that ended leaves the event.
            let current = sessions
            var ended = 0
            for worker in current where !worker.step() {
                worker.finish()
                ended += 1
            }
            if ended > 0 {
                sessions.removeAll { $0.isFinished }
                lock.lock()
                load -= ended
                lock.unlock()
            }
        }
        ssh_event_remove_fd(event, wake.read)
        ssh_event_free(event)
        close(wake.read)
        close(wake.write)
    }
}
