import Foundation

/// A watch on every key under a prefix, run on a thread of its own.
///
/// It streams `POST /v3/watch` (a chunked answer, one JSON message per line) and hands each put and
/// delete to the handler in revision order. When the connection breaks it reconnects (trying the
/// endpoints in turn) from the revision after the last event it delivered, so no event is lost or
/// repeated. It stops at `cancel()`, or when etcd has compacted revisions it still needs
/// (`EtcdError.compacted`, given to the error handler). The thread holds the watch: it runs until
/// cancelled, whether or not the caller keeps a reference.
public final class EtcdWatch: @unchecked Sendable {
    public typealias EventHandler = @Sendable (WatchEvent) -> Void
    public typealias ErrorHandler = @Sendable (EtcdError) -> Void

    private let client: EtcdClient
    private let prefix: [UInt8]
    private let handler: EventHandler
    private let errorHandler: ErrorHandler
    private let retryDelay: Double
    private let lock = NSLock()
    private var cancelled = false
    private var stopped = false
    private var next: EtcdRevision
    private var thread: Thread?

    /// Starts watching `prefix` from `fromRevision` (nil: from now). Errors that a reconnect may
    /// cure (etcd down) go to `onError` too, then the watch retries after `retryDelay` seconds.
    public init(client: EtcdClient, prefix: [UInt8], fromRevision: EtcdRevision? = nil, retryDelay: Double = 0.25,
                onError: @escaping ErrorHandler = { _ in }, handler: @escaping EventHandler) {
        self.client = client
        self.prefix = prefix
        self.handler = handler
        self.errorHandler = onError
        self.retryDelay = retryDelay
        next = fromRevision ?? 0
        let thread = Thread { [self] in self.loop() }
        thread.name = "etcd-watch"
        self.thread = thread
        thread.start()
    }

    public convenience init(client: EtcdClient, prefix: String, fromRevision: EtcdRevision? = nil,
                            retryDelay: Double = 0.25, onError: @escaping ErrorHandler = { _ in },
                            handler: @escaping EventHandler) {
        self.init(client: client, prefix: Array(prefix.utf8), fromRevision: fromRevision, retryDelay: retryDelay,
                  onError: onError, handler: handler)
    }

    /// The revision the watch resumes from after a reconnect (the last delivered event's + 1).
    public var nextRevision: EtcdRevision { lock.withLock { next } }

    /// Whether the watch thread has ended (after `cancel()` or a compaction).
    public var isStopped: Bool { lock.withLock { stopped } }

    /// Stops the watch: no handler call starts after this returns; the thread ends within ~200 ms.
    public func cancel() { lock.withLock { cancelled = true } }

    private var isCancelled: Bool { lock.withLock { cancelled } }

    private func loop() {
        defer { lock.withLock { stopped = true } }
        var index = 0
        while !isCancelled {
            let endpoint = client.endpoints[index % client.endpoints.count]
            do {
                try stream(from: endpoint)
            } catch is CancellationError {
                return
            } catch let error as EtcdError {
                if case .compacted = error { errorHandler(error); return }
                errorHandler(error)
            } catch {
                errorHandler(.badResponse(endpoint, "\(error)"))
            }
            index += 1
            let until = Deadline(after: retryDelay)
            while !until.hasPassed && !isCancelled { usleep(20_000) }
        }
    }

    /// One connection's worth of the watch; returns or throws when it ends.
    private func stream(from endpoint: EtcdEndpoint) throws {
        var create: [String: Any] = [
            "key": GatewayJSON.base64(prefix),
            "range_end": GatewayJSON.base64(GatewayJSON.prefixEnd(prefix)),
        ]
        let start = nextRevision
        if start > 0 { create["start_revision"] = String(start) }
        let exchange = try HTTPExchange(endpoint: endpoint, path: "/v3/watch",
                                        body: GatewayJSON.encode(["create_request": create]),
                                        limit: client.maxResponseBytes, deadline: Deadline(after: client.requestTimeout))
        guard exchange.status == 200 else {
            let body = (try? exchange.readBody(deadline: Deadline(after: client.requestTimeout))) ?? []
            throw GatewayJSON.serverError(endpoint, status: exchange.status, body: body)
        }
        while let line = try exchange.nextLine(deadline: nil, cancelled: { isCancelled }) {
            let message = try GatewayJSON.decode(line, from: endpoint)
            if message["error"] != nil { throw GatewayJSON.serverError(endpoint, status: 200, body: line) }
            guard let result = message["result"] as? [String: Any] else { continue }
            let compactRevision = GatewayJSON.int(result, "compact_revision")
            if compactRevision > 0 { throw EtcdError.compacted(endpoint, compactRevision: compactRevision) }
            if result["canceled"] as? Bool == true {
                throw EtcdError.server(endpoint, status: 200, code: nil,
                                       message: "watch canceled: \(result["cancel_reason"] as? String ?? "no reason given")")
            }
            if result["created"] as? Bool == true, start == 0 {
                // Watching "from now": later reconnects resume after the revision the watch began at.
                let header = GatewayJSON.revision(result)
                lock.withLock { if next == 0 { next = header + 1 } }
            }
            for raw in result["events"] as? [[String: Any]] ?? [] {
                guard let kvObject = raw["kv"] as? [String: Any] else { continue }
                let kv = try GatewayJSON.keyValue(kvObject, endpoint)
                let event = WatchEvent(kind: (raw["type"] as? String) == "DELETE" ? .delete : .put, kv: kv)
                let deliver: Bool = lock.withLock {
                    guard !cancelled, event.revision >= next else { return false }
                    next = event.revision + 1
                    return true
                }
                if deliver { handler(event) }
            }
        }
        throw EtcdError.badResponse(endpoint, "watch stream ended")
    }
}
