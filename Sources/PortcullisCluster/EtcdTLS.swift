import CEtcdTLS
import Foundation

/// How to reach an `https://` etcd endpoint: the CA file that signed etcd's server certificate
/// (the only one trusted; verification is never skipped) and, for client-certificate auth, the
/// client's certificate and key (both or neither). TLS 1.2 or later; the server's certificate must
/// name the endpoint's host (or IP address).
public struct EtcdTLS: Sendable, Hashable {
    public let caFile: String
    public let certFile: String?
    public let keyFile: String?

    public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

/// Loaded OpenSSL contexts, one per `EtcdTLS`, kept for the process's life (files are read once).
final class TLSContexts: @unchecked Sendable {
    static let shared = TLSContexts()
    private let lock = NSLock()
    private var contexts: [EtcdTLS: OpaquePointer] = [:]

    /// The context for `tls`, loading its files the first time; a failure names the file and why.
    func context(for tls: EtcdTLS) throws(TLSSetupError) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let ready = contexts[tls] { return ready }
        var error = [CChar](repeating: 0, count: 1024)
        guard let ctx = etcdtls_ctx_new(tls.caFile, tls.certFile, tls.keyFile, &error, error.count) else {
            throw TLSSetupError(message: text(error))
        }
        contexts[tls] = ctx
        return ctx
    }
}

struct TLSSetupError: Error { let message: String }

/// One TLS session on a connected non-blocking socket; every step waits with poll(2) against a deadline.
final class TLSSession {
    private let conn: OpaquePointer
    private let endpoint: EtcdEndpoint
    private let hasClientCertificate: Bool

    /// Sets up the session and completes the handshake before `deadline`.
    init(fd: Int32, endpoint: EtcdEndpoint, tls: EtcdTLS, deadline: Deadline) throws {
        self.endpoint = endpoint
        hasClientCertificate = tls.certFile != nil
        let ctx: OpaquePointer
        do { ctx = try TLSContexts.shared.context(for: tls) } catch {
            throw EtcdError.unreachable(endpoint, "TLS: \(error.message)")
        }
        var error = [CChar](repeating: 0, count: 1024)
        guard let conn = etcdtls_conn_new(ctx, fd, endpoint.host, &error, error.count) else {
            throw EtcdError.unreachable(endpoint, "TLS: \(text(error))")
        }
        self.conn = conn
        while true {
            let rc = etcdtls_handshake(conn)
            if rc == 1 { return }
            guard rc == ETCDTLS_WANT_READ || rc == ETCDTLS_WANT_WRITE else {
                throw EtcdError.unreachable(endpoint, "TLS handshake failed: \(lastError())\(refusedClientHint())")
            }
            var pfd = pollfd(fd: fd, events: Int16(rc == ETCDTLS_WANT_READ ? POLLIN : POLLOUT), revents: 0)
            if TCPConnection.pollRetrying(&pfd, deadline) == 0 {
                throw EtcdError.unreachable(endpoint, "TLS handshake: no answer before the deadline")
            }
        }
    }

    deinit { etcdtls_conn_free(conn) }

    /// Writes some of `bytes`: the count, or what to wait for.
    func write(_ bytes: ArraySlice<UInt8>) throws -> Step {
        let n = bytes.withUnsafeBytes { etcdtls_write(conn, $0.baseAddress, $0.count) }
        return try step(n, "sending")
    }

    /// Reads into `buffer`: the count (0 at a clean close), or what to wait for.
    func read(_ buffer: inout [UInt8]) throws -> Step {
        let n = buffer.withUnsafeMutableBytes { etcdtls_read(conn, $0.baseAddress, $0.count) }
        return try step(n, "reading")
    }

    enum Step { case done(Int), wantRead, wantWrite }

    private func step(_ n: Int, _ what: String) throws -> Step {
        if n >= 0 { return .done(n) }
        if n == Int(ETCDTLS_WANT_READ) { return .wantRead }
        if n == Int(ETCDTLS_WANT_WRITE) { return .wantWrite }
        throw EtcdError.badResponse(endpoint, "TLS connection lost while \(what): \(lastError())\(refusedClientHint())")
    }

    /// What etcd's alert most likely means, when it refused this client's certificate (or its lack of one).
    private func refusedClientHint() -> String {
        let error = lastError()
        guard error.contains("alert bad certificate") || error.contains("alert certificate required")
            || error.contains("alert unknown ca") else { return "" }
        return hasClientCertificate
            ? " (etcd refused this client certificate: is it signed by a CA etcd trusts?)"
            : " (etcd demands a client certificate: set tls_cert and tls_key)"
    }

    private func lastError() -> String {
        var error = [CChar](repeating: 0, count: 1024)
        etcdtls_last_error(conn, &error, error.count)
        return text(error)
    }
}

/// The NUL-terminated text the C shim wrote into `buffer`.
private func text(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
