import Foundation
@testable import PortcullisCluster
import PortcullisTestSupport

/// A real etcd (/usr/bin/etcd) on 127.0.0.1, on free ports, with its own data directory and name;
/// killed when the test is done with it. With `tls`, it serves https only.
final class EtcdServer: @unchecked Sendable {
    /// How an https etcd is set up: its certificates, which server certificate it presents, and
    /// whether it demands a client certificate signed by the CA (--client-cert-auth).
    struct TLS {
        let certificates: TestCertificates
        var presentsOtherHost = false
        var clientCertAuth = true
    }

    static let binary = "/usr/bin/etcd"
    let directory: TemporaryDirectory
    let clientPort: UInt16
    let peerPort: UInt16
    let name: String
    let tls: TLS?
    private var process: BackgroundProcess?

    /// The endpoint a well-configured client uses (for https: the right CA and the client certificate).
    var endpoint: EtcdEndpoint { EtcdEndpoint(host: "127.0.0.1", port: clientPort, tls: clientTLS()) }
    var url: String { endpoint.description }

    /// TLS settings for a client of this etcd; by default the right CA and the client certificate.
    func clientTLS(ca: String? = nil, withClientCertificate: Bool = true) -> EtcdTLS? {
        guard let certificates = tls?.certificates else { return nil }
        return EtcdTLS(caFile: ca ?? certificates.ca,
                       certFile: withClientCertificate ? certificates.clientCert : nil,
                       keyFile: withClientCertificate ? certificates.clientKey : nil)
    }

    init(tls: TLS? = nil) throws {
        self.tls = tls
        directory = try TemporaryDirectory()
        clientPort = try freePort()
        peerPort = try freePort()
        name = "pc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try start()
    }

    deinit { process?.stop() }

    /// Starts etcd (again, on the same data directory and ports) and waits for /health.
    func start() throws {
        let peer = "http://127.0.0.1:\(peerPort)"
        var arguments = [
            "--name", name, "--data-dir", directory.file("data"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "\(name)=\(peer)"
        ]
        if let tls {
            let certificates = tls.certificates
            arguments += [
                "--cert-file", tls.presentsOtherHost ? certificates.otherHostCert : certificates.serverCert,
                "--key-file", tls.presentsOtherHost ? certificates.otherHostKey : certificates.serverKey,
            ]
            // etcd 3.4 demands client certificates whenever it is given a trusted CA.
            if tls.clientCertAuth { arguments += ["--trusted-ca-file", certificates.ca, "--client-cert-auth"] }
        }
        process = try BackgroundProcess(EtcdServer.binary, arguments, errorFile: directory.file("etcd.log"))
        try waitUntil("etcd /health on \(url)", seconds: 30) {
            guard process?.isRunning == true else {
                throw TestFailure("etcd exited: \(process?.stderr.suffix(2000) ?? "")")
            }
            // A certificate for another host cannot be checked from here: wait for etcd to say it serves.
            if tls?.presentsOtherHost == true {
                return (try? directory.read("etcd.log"))?.contains("serving client requests on") == true
            }
            return healthy()
        }
    }

    /// Kills etcd at once (SIGKILL), as a crash would.
    func kill() { process?.stop() }

    /// Stops etcd (SIGSTOP): it keeps its connections but answers nothing, as a hung server.
    func pause() { if let pid = process?.pid { _ = Glibc.kill(pid, SIGSTOP) } }

    /// Lets a paused etcd go on (SIGCONT).
    func resume() { if let pid = process?.pid { _ = Glibc.kill(pid, SIGCONT) } }

    private func healthy() -> Bool {
        guard let exchange = try? HTTPExchange(endpoint: endpoint, method: "GET", path: "/health", body: [],
                                               limit: 4096, deadline: Deadline(after: 1)),
              exchange.status == 200,
              let body = try? exchange.readBody(deadline: Deadline(after: 1)) else { return false }
        return String(decoding: body, as: UTF8.self).contains("\"health\":\"true\"")
    }
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestFailure("cannot bind a free port") }
    return UInt16(bigEndian: address.sin_port)
}

/// A listening socket on a free port that never accepts or answers: a connection to it "works"
/// but no response ever comes.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestFailure("cannot listen") }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }

    var endpoint: EtcdEndpoint { EtcdEndpoint(host: "127.0.0.1", port: port) }
}

/// Collects what a watch delivers, safely across threads.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [WatchEvent] = []
    func append(_ event: WatchEvent) { lock.withLock { items.append(event) } }
    var events: [WatchEvent] { lock.withLock { items } }
}

/// A fake etcd on a free port that answers every connection with `head` and then writes `filler`
/// over and over until the client goes away: an answer that never ends.
final class EndlessServer: @unchecked Sendable {
    let listener: SilentListener
    private let lock = NSLock()
    private var sent = 0

    init(head: String, filler: [UInt8]) throws {
        listener = try SilentListener()
        let fd = listener.fd
        Thread.detachNewThread { [self] in
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var bytes = Array(head.utf8)
            while true {
                let n = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                lock.withLock { sent += n }
                bytes = filler
            }
        }
    }

    var endpoint: EtcdEndpoint { listener.endpoint }
    /// How many bytes it got the client to take.
    var bytesSent: Int { lock.withLock { sent } }
}
