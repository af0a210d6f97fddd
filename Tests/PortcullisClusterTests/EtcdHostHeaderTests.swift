import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

/// The Host header of every request names the endpoint as a URL would: an IPv6 address in
/// brackets (`Host: [::1]:2379`), never the ambiguous `::1:2379` a strict server refuses.
@Suite struct EtcdHostHeaderTests {
    /// A listener on ::1 that keeps the first request's head and answers an empty range.
    final class CapturingServer: @unchecked Sendable {
        let fd: Int32
        let port: UInt16
        private let lock = NSLock()
        private var head = ""

        init() throws {
            fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_loopback
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let fd = self.fd
            let ok = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard ok else { throw TestFailure("cannot listen on [::1]") }
            port = UInt16(bigEndian: address.sin6_port)
            Thread.detachNewThread { [self] in serveOne() }
        }

        deinit { close(fd) }

        var requestHead: String { lock.withLock { head } }

        private func serveOne() {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                received += buffer[..<n]
            }
            let text = String(decoding: received, as: UTF8.self)
            lock.withLock { head = String(text[..<text.range(of: "\r\n\r\n")!.lowerBound]) }
            let body = #"{"header": {"revision": "3"}}"#
            let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            _ = Array(answer.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    @Test func anIPv6EndpointIsBracketedInTheHostHeader() throws {
        let server = try CapturingServer()
        let endpoint = try EtcdEndpoint(parsing: "http://[::1]:\(server.port)")
        #expect(endpoint.authority == "[::1]:\(server.port)")
        let client = try EtcdClient(endpoints: [endpoint], requestTimeout: 5)
        let (kvs, revision) = try client.range(prefix: "/portcullis/keys/")
        #expect(kvs.isEmpty && revision == 3)
        let lines = server.requestHead.split(separator: "\r\n").map(String.init)
        #expect(lines.contains("Host: [::1]:\(server.port)"), "\(lines)")
    }

    @Test func anIPv4OrNamedEndpointIsAsWritten() throws {
        #expect(try EtcdEndpoint(parsing: "http://127.0.0.1:2379").authority == "127.0.0.1:2379")
        #expect(try EtcdEndpoint(parsing: "https://etcd.internal:2379", tls: EtcdTLS(caFile: "/ca.pem")).authority == "etcd.internal:2379")
    }
}
