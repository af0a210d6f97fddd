import CLibSSH
import Foundation
import PortcullisPolicy

/// A client's `direct-tcpip` or `direct-streamlocal` open while the proxy connects to the target.
/// The client's request is kept unanswered until the connection is made (the channel is accepted
/// and a pump starts) or has failed (the open is refused with the reason), so a slow or unreachable
/// target holds up nothing else.
final class OutboundConnection {
    let request: ForwardRequest
    private unowned let worker: SessionWorker
    private var message: OpaquePointer?
    private let originator: String
    private var candidates: [SocketAddress]
    private var fd: Int32 = -1
    private var registered = false
    private var writable = false
    private let deadline: Date
    private var lastError = "no address to connect to"

    /// Connects to one of `candidates` (TCP), trying them in order.
    init(worker: SessionWorker, message: OpaquePointer, request: ForwardRequest, originator: String,
         candidates: [SocketAddress]) {
        self.worker = worker
        self.message = message
        self.request = request
        self.originator = originator
        self.candidates = candidates
        self.deadline = Date().addingTimeInterval(Double(worker.configuration.connectTimeoutMilliseconds) / 1000)
        tryNextCandidate()
    }

    /// A connection already made (a Unix socket), to be handed to the client as it is.
    init(worker: SessionWorker, message: OpaquePointer, request: ForwardRequest, originator: String,
         connected fd: Int32) {
        self.worker = worker
        self.message = message
        self.request = request
        self.originator = originator
        self.candidates = []
        self.deadline = Date()
        self.fd = fd
        self.writable = true
    }

    var isDone: Bool { message == nil }

    /// Between polls: finishes the open when the connection is made, moves on to the next address
    /// when one fails, and gives up at the deadline.
    func service() {
        guard message != nil else { return }
        if writable && fd >= 0 {
            writable = false
            let error = Socket.connectResult(fd)
            if error == 0 {
                unregister()
                accept()
                return
            }
            lastError = String(cString: strerror(error))
            closeSocket()
            tryNextCandidate()
        }
        if fd < 0 {
            refuse(reason: "\(request.target): \(lastError)", code: UInt32(SSH2_OPEN_CONNECT_FAILED))
        } else if Date() > deadline {
            closeSocket()
            refuse(reason: "\(request.target): timed out", code: UInt32(SSH2_OPEN_CONNECT_FAILED))
        } else {
            register()
        }
    }

    /// Gives up without answering: the session is ending.
    func abandon() {
        closeSocket()
        if let message {
            ssh_message_free(message)
            self.message = nil
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
        guard let message else { return }
        self.message = nil
        defer { ssh_message_free(message) }
        guard let channel = ssh_message_channel_request_open_reply_accept(message) else {
            closeSocket()
            return
        }
        let pump = ChannelPump(worker: worker, channel: channel, fd: fd, request: request)
        fd = -1
        worker.started(pump, originator: originator)
    }

    private func refuse(reason: String, code: UInt32) {
        guard let message else { return }
        self.message = nil
        worker.observer(.forwardFailed(session: worker.id, request: request, reason: reason))
        ssh_message_channel_request_open_reply_failure(message, code, reason)
        ssh_message_free(message)
    }

    private func register() {
        guard !registered, let event = worker.event else { return }
        registered = true
        ssh_event_add_fd(event, fd, Int16(POLLOUT), { _, _, userdata in
            Unmanaged<OutboundConnection>.fromOpaque(userdata!).takeUnretainedValue().writable = true
            return 0
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    private func unregister() {
        if registered, let event = worker.event {
            ssh_event_remove_fd(event, fd)
        }
        registered = false
    }

    private func closeSocket() {
        unregister()
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}
