import CLibSSH
import Foundation
import PortcullisPolicy

/// A listener the client asked for with `ssh -R`: a TCP port or a Unix socket on the proxy, or a
/// name in the name table (`ssh -R NAME:PORT:...`, nothing bound). Each connection accepted on it
/// (for a name: handed over by a consumer's session) becomes a channel to the client.
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
    /// The name this forward holds in the name table, until it is withdrawn.
    private var publishedName: String?
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
        case .namePublish(let name, let port):
            fds = []
            boundPort = port
            bound = "name \(request.target)"
            let delivery = NameDelivery(loop: worker.loop)
            let holder = NameHolder(session: worker.id, keyName: worker.rules?.keyName ?? "-", port: port,
                                    deliver: delivery.deliver)
            if let current = worker.names.publish(name, holder: holder) {
                throw NameTaken(name: name, holder: current)
            }
            publishedName = name
            delivery.forward = self
        default:
            throw SocketError("listen", code: EINVAL)
        }
    }

    /// Takes the name out of the table if this forward holds it; returns whether it did.
    func withdrawName() -> Bool {
        guard let name = publishedName else { return false }
        publishedName = nil
        return worker.names.withdraw(name, session: worker.id)
    }

    /// A consumer's connection for the published name, on this forward's loop: a channel to the
    /// client, once the client has been told the name is published; closed otherwise.
    fileprivate func delivered(_ fd: Int32, originator: Endpoint?) {
        // A name whose cluster record went with a lost lease may be published elsewhere by now.
        guard active, !cancelled, claim?.lostReason == nil else {
            Glibc.close(fd)
            return
        }
        worker.accepted(fd, on: self, originator: originator)
        worker.loop.markDue(worker)
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
        _ = withdrawName()
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

/// Why a name cannot be published: another session holds it.
struct NameTaken: Error, CustomStringConvertible {
    let name: String
    let holder: NameHolder

    var description: String { "name \(name) is already published by \(holder.description)" }
}

/// Carries a consumer's connection to the forward that holds the name, on that forward's loop.
final class NameDelivery: @unchecked Sendable {
    private unowned let loop: EventLoop
    /// Set once the name is published; gone with the forward.
    weak var forward: RemoteForward?

    init(loop: EventLoop) {
        self.loop = loop
    }

    func deliver(_ fd: Int32, originator: Endpoint?) {
        loop.post { [self] in
            guard let forward else {
                Glibc.close(fd)
                return
            }
            forward.delivered(fd, originator: originator)
        }
    }
}
