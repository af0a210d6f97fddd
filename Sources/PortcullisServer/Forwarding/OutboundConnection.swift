import CLibSSH
import Foundation
import PortcullisPolicy

/// A client's `direct-tcpip` open while the proxy connects to the target, without blocking. The
/// client's request is kept unanswered until the connection is made (the session then accepts the
/// channel) or has failed (the open is refused with the reason), so a slow or unreachable target
/// holds up nothing else.
final class OutboundConnection {
    private unowned let worker: SessionWorker
    private var attempt: OpenAttempt?
    private var candidates: [SocketAddress]
    private var fd: Int32 = -1
    private var watch: Watch?
    private var writable = false
    private let connectDeadline: UInt64
    private var lastError = "no address to connect to"

    /// Connects to one of `candidates`, trying them in order.
    init(worker: SessionWorker, attempt: OpenAttempt, candidates: [SocketAddress]) {
        self.worker = worker
        self.attempt = attempt
        self.candidates = candidates
        self.connectDeadline = Monotonic.after(seconds: Double(worker.configuration.connectTimeoutMilliseconds) / 1000)
        tryNextCandidate()
    }

    var isDone: Bool { attempt == nil }

    /// When the attempt gives up if the target has not answered.
    var deadline: UInt64? { isDone ? nil : connectDeadline }

    /// Between polls: finishes the open when the connection is made, moves on to the next address
    /// when one fails, and gives up at the deadline.
    func service() {
        guard let attempt else { return }
        if writable && fd >= 0 {
            writable = false
            let error = Socket.connectResult(fd)
            if error == 0 {
                unwatch()
                accept()
                return
            }
            lastError = String(cString: strerror(error))
            closeSocket()
            tryNextCandidate()
        }
        if fd < 0 {
            refuse(reason: "\(attempt.request.target): \(lastError)")
        } else if Monotonic.now >= connectDeadline {
            closeSocket()
            refuse(reason: "\(attempt.request.target): timed out")
        } else {
            if watch == nil {
                watch = worker.loop.watch(fd, for: worker, events: UInt32(POLLOUT)) { [unowned self] _ in
                    writable = true
                }
            }
        }
    }

    /// Gives up without answering: the session is ending.
    func abandon() {
        closeSocket()
        if let attempt {
            ssh_message_free(attempt.message)
            self.attempt = nil
        }
    }

    private func tryNextCandidate() {
        while fd < 0, !candidates.isEmpty {
            let address = candidates.removeFirst()
            do {
                let (socket, connected) = try Socket.startConnect(address)
                fd = socket
                writable = connected
            } catch let error as SocketError {
                lastError = String(cString: strerror(error.code))
            } catch {
                lastError = "\(error)"
            }
        }
    }

    private func accept() {
        guard let attempt else { return }
        self.attempt = nil
        let connected = fd
        fd = -1
        worker.opened(attempt, fd: connected)
    }

    private func refuse(reason: String) {
        guard let attempt else { return }
        self.attempt = nil
        worker.failed(attempt, reason: reason)
    }

    private func unwatch() {
        watch?.cancel()
        watch = nil
    }

    private func closeSocket() {
        unwatch()
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}
