import CLibSSH
#if canImport(Glibc)
import Glibc
#endif

/// A descriptor that a session's event loop watches, and what to do when it is ready.
///
/// Made by ``EventLoop/watch(_:for:events:onReady:)`` and used on the loop's thread only. `events`
/// are poll(2) bits (`POLLIN`, `POLLOUT`; epoll uses the same values); 0 takes the descriptor out
/// of the kernel's interest list until it is set again. Cancel a watch before closing its
/// descriptor: a descriptor number is reused at once by the next socket.
final class Watch {
    let fd: Int32
    /// What epoll reports this watch with; never reused within a loop.
    let token: UInt64
    /// The session whose step follows whenever this watch fires.
    unowned let owner: SessionWorker
    private unowned let loop: EventLoop
    private(set) var events: UInt32 = 0
    private var inKernel = false
    private var onReady: ((UInt32) -> Void)?

    init(fd: Int32, token: UInt64, owner: SessionWorker, loop: EventLoop, onReady: @escaping (UInt32) -> Void) {
        self.fd = fd
        self.token = token
        self.owner = owner
        self.loop = loop
        self.onReady = onReady
    }

    var isCancelled: Bool { onReady == nil }

    /// Watches for `events` from now on (0: for nothing).
    func set(_ events: UInt32) {
        guard !isCancelled, events != self.events || (events != 0) != inKernel else { return }
        self.events = events
        if events == 0 {
            if inKernel { loop.epollControl(EPOLL_CTL_DEL, fd: fd, events: 0, token: token) }
            inKernel = false
        } else if inKernel {
            loop.epollControl(EPOLL_CTL_MOD, fd: fd, events: events, token: token)
        } else {
            inKernel = loop.epollControl(EPOLL_CTL_ADD, fd: fd, events: events, token: token)
        }
    }

    /// Stops watching for good. Call before the descriptor is closed.
    func cancel() {
        guard !isCancelled else { return }
        set(0)
        onReady = nil
        loop.forget(self)
    }

    /// Stops watching a descriptor that someone else (libssh) has closed already: closing it took
    /// it out of epoll, and its number may belong to another socket by now, so nothing is asked of
    /// epoll by that number.
    func forgetClosed() {
        guard !isCancelled else { return }
        inKernel = false
        events = 0
        onReady = nil
        loop.forget(self)
    }

    /// The loop saw the descriptor ready with `revents` (poll(2) bits, POLLHUP and POLLERR included).
    func fire(_ revents: UInt32) {
        onReady?(revents)
    }
}
