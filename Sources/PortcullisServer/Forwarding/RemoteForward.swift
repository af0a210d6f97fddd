import CLibSSH
import Foundation
import PortcullisPolicy

/// A listener the client asked for with `ssh -R`: a TCP port or a Unix socket on the proxy. Each
/// connection accepted on it becomes a channel to the client.
final class RemoteForward {
    let request: ForwardRequest
    /// The port actually bound (TCP), or 0.
    let boundPort: Int
    /// What was bound, for logs: `host:port` or the socket path.
    let bound: String
    private unowned let worker: SessionWorker
    private var fds: [Int32]
    private var registered = false
    private var cancelled = false
    /// Whether the client has been told the forward is in place: only then are connections taken.
    private var active = false
    /// The socket file this forward created, to remove it and nothing else on close.
    private var createdSocket: UnixSocketFile.Created?

    /// `dynamicRanges`: for a port-0 listen, the ranges to allocate from (nil: any unprivileged port).
    init(worker: SessionWorker, request: ForwardRequest, dynamicRanges: [ClosedRange<Int>]? = nil) throws {
        self.worker = worker
        self.request = request
        switch request {
        case .tcpListen(let host, let port):
            let hosts = ListenHosts.bind(requested: host, gatewayPorts: worker.configuration.gatewayPorts)
            fds = try Socket.listenTCP(hosts: hosts, port: port, ranges: port == 0 ? dynamicRanges : nil)
            boundPort = fds.first.flatMap(Endpoint.local(of:))?.port ?? port
            bound = fds.compactMap(Endpoint.local(of:)).map(\.description).joined(separator: ", ")
        case .streamLocalListen(let path):
            let (fd, created) = try UnixSocketFile.listen(path: path, root: worker.configuration.socketRoot,
                                                          mode: mode_t(worker.configuration.socketMode))
            fds = [fd]
            createdSocket = created
            boundPort = 0
            bound = path
        default:
            throw SocketError("listen", code: EINVAL)
        }
    }

    /// The client has been told: connections may be taken from the next poll on.
    func activate() {
        active = true
    }

    /// Starts polling for connections. Called between polls only.
    func register() {
        guard active, !registered, !cancelled, let event = worker.event else { return }
        registered = true
        for fd in fds {
            ssh_event_add_fd(event, fd, Int16(POLLIN), { fd, _, userdata in
                let forward = Unmanaged<RemoteForward>.fromOpaque(userdata!).takeUnretainedValue()
                while !forward.cancelled, let connection = Socket.accept(fd) {
                    forward.worker.accepted(connection, on: forward)
                }
                return 0
            }, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    /// Stops polling for connections for now (they wait in the listen backlog). Between polls only.
    func pause() {
        if registered, let event = worker.event {
            fds.forEach { ssh_event_remove_fd(event, $0) }
        }
        registered = false
    }

    /// Stops taking connections at once and removes the socket file this forward created; the
    /// listening sockets are closed by `close()` between polls.
    func cancel() {
        cancelled = true
        removeCreatedSocket()
    }

    /// Stops listening and removes the socket file this forward created. Called between polls only.
    func close() {
        cancel()
        pause()
        fds.forEach { Glibc.close($0) }
        fds = []
    }

    private func removeCreatedSocket() {
        createdSocket?.remove()
        createdSocket = nil
    }
}
