import Foundation

/// Resolves host names for `direct-tcpip` opens off the event loops: a few threads, each running
/// the system resolver (getaddrinfo, which blocks). A slow or silent DNS server then delays only
/// the opens that need a name resolved; the session enforces its own deadline on each request and
/// drops a late answer.
final class HostResolver: @unchecked Sendable {
    /// One request: cancelled when its session gave up on it, so a thread that has not started it
    /// yet skips it.
    final class Request: @unchecked Sendable {
        let host: String
        let port: Int
        fileprivate let completion: @Sendable (Result<[SocketAddress], SocketError>) -> Void
        private let lock = NSLock()
        private var cancelled = false

        fileprivate init(host: String, port: Int,
                         completion: @escaping @Sendable (Result<[SocketAddress], SocketError>) -> Void) {
            self.host = host
            self.port = port
            self.completion = completion
        }

        func cancel() {
            lock.lock()
            cancelled = true
            lock.unlock()
        }

        fileprivate var isCancelled: Bool {
            lock.lock()
            defer { lock.unlock() }
            return cancelled
        }
    }

    /// The pool the server's sessions share.
    static let shared = HostResolver(threads: 4, queueLimit: 4096)

    private let condition = NSCondition()
    private var queue: [Request] = []
    private let queueLimit: Int

    init(threads: Int, queueLimit: Int) {
        self.queueLimit = queueLimit
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "portcullis-resolver-\(index)"
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// Resolves `host`:`port`; `completion` runs on a resolver thread. Nil when too many requests
    /// wait already (the resolver is stuck): the caller refuses the open at once.
    func resolve(host: String, port: Int,
                 completion: @escaping @Sendable (Result<[SocketAddress], SocketError>) -> Void) -> Request? {
        let request = Request(host: host, port: port, completion: completion)
        condition.lock()
        defer { condition.unlock() }
        guard queue.count < queueLimit else { return nil }
        queue.append(request)
        condition.signal()
        return request
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let request = queue.removeFirst()
            condition.unlock()
            guard !request.isCancelled else { continue }
            let result: Result<[SocketAddress], SocketError>
            do {
                result = .success(try Socket.resolve(host: request.host, port: request.port))
            } catch let error as SocketError {
                result = .failure(error)
            } catch {
                result = .failure(SocketError("resolve \(request.host): \(error)", code: 0))
            }
            request.completion(result)
        }
    }
}
