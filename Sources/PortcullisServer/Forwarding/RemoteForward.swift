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
    private var watches: [Watch] = []
    private var cancelled = false
    /// Whether the client has been told the forward is in place: only then are connections taken.
    private var active = false
    /// Connections wait in the backlog while the audit recorder lags behind.
    private(set) var isPausedForRecorder = false
    /// Out of descriptors: connections wait in the backlog until then.
    private(set) var resumeAt: UInt64?
    /// Its claim in the cluster's tunnel registry (nil: none needed); released on close.
    var claim: (any ListenClaim)?
    /// The socket file this forward created, to remove it and nothing else on close.
    private var createdSocket: UnixSocketFile.Created?
    /// Connections taken per readiness report, so one busy listener cannot hog its loop.
    private static let acceptsPerWakeUp = 64

    /// `dynamicRanges`: for a port-0 listen, the ranges to allocate from (nil: any unprivileged port).
    init(worker: SessionWorker, request: ForwardRequest, dynamicRanges: [ClosedRange<Int>]? = nil) throws {
        self.worker = worker
        self.request = request
        switch request {
        case .tcpListen(let host, let port):
            let hosts = ListenHosts.bind(requested: host, gatewayPorts: worker.configuration.gatewayPorts)
            fds = try ListenHosts.listen(hosts: hosts, port: port, dynamicRanges: dynamicRanges)
            boundPort = fds.first.flatMap(Endpoint.local(of:))?.port ?? port
            bound = fds.compactMap(Endpoint.local(of:)).map(\.description).joined(separator: ", ")
        case .streamLocalListen(let path):
            let (fd, created) = try UnixSocketFile.listen(path: path, root: worker.configuration.socketRoot,
                                                          mode: mode_t(worker.configuration.socketMode),
                                                          registry: worker.socketFiles)
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

    /// Between polls: takes connections while the forward is active, the recorder keeps up and
    /// descriptors are to be had.
    func service(recorderCongested: Bool) {
        guard !cancelled else { return }
        isPausedForRecorder = active && recorderCongested
        if let resume = resumeAt, Monotonic.now >= resume { resumeAt = nil }
        if watches.isEmpty {
            watches = fds.map { fd in
                worker.loop.watch(fd, for: worker) { [unowned self] _ in acceptAll(on: fd) }
            }
        }
        let listening = active && !isPausedForRecorder && resumeAt == nil && claim?.lostReason == nil
        watches.forEach { $0.set(listening ? UInt32(POLLIN) : 0) }
    }

    private func acceptAll(on fd: Int32) {
        // A claim no longer served (its lease was lost) takes no connection: another proxy may hold it.
        if claim?.lostReason != nil {
            watches.forEach { $0.set(0) }
            return
        }
        for _ in 0..<Self.acceptsPerWakeUp where !cancelled && resumeAt == nil {
            switch Socket.accept(fd) {
            case .connection(let connection):
                worker.accepted(connection, on: self)
            case .none:
                return
            case .exhausted(let code):
                // Stop polling the listener for a moment; the connection waits in the backlog.
                resumeAt = Monotonic.after(seconds: 0.25)
                watches.forEach { $0.set(0) }
                worker.configuration.log.warn("accept-forward",
                    "forward \(bound): cannot accept a connection: \(String(cString: strerror(code))); retrying shortly")
                return
            }
        }
    }

    /// Stops taking connections at once and removes the socket file this forward created; the
    /// listening sockets are closed by `close()` between polls.
    func cancel() {
        cancelled = true
        watches.forEach { $0.set(0) }
        removeCreatedSocket()
    }

    /// Stops listening and removes the socket file this forward created. Called between polls only.
    func close() {
        cancel()
        watches.forEach { $0.cancel() }
        watches = []
        fds.forEach { Glibc.close($0) }
        fds = []
        claim?.release()
        claim = nil
    }

    private func removeCreatedSocket() {
        createdSocket?.remove()
        createdSocket = nil
    }
}
