import Foundation
@testable import PortcullisServer
import Testing

/// A remote listen on a fixed port is served on each of its addresses that can be bound, as sshd
/// serves `ssh -R 8080` on 127.0.0.1 when [::1]:8080 is taken.
@Suite struct ListenHostsTests {
    @Test func aFixedPortIsServedOnTheAddressesThatCanBeBound() throws {
        let taken = try Socket.listenTCP(host: "::1", port: 0)
        defer { taken.forEach { close($0) } }
        let port = try #require(taken.first.flatMap(Endpoint.local(of:))).port
        let fds = try ListenHosts.listen(hosts: ["127.0.0.1", "::1"], port: port, dynamicRanges: nil)
        defer { fds.forEach { close($0) } }
        #expect(fds.compactMap(Endpoint.local(of:)).map(\.description) == ["127.0.0.1:\(port)"])
    }

    @Test func noAddressBoundIsTheFirstAddresssError() throws {
        let v4 = try Socket.listenTCP(host: "127.0.0.1", port: 0)
        defer { v4.forEach { close($0) } }
        let port = try #require(v4.first.flatMap(Endpoint.local(of:))).port
        guard let v6 = try? Socket.listenTCP(host: "::1", port: port) else { return }  // [::1]:port in use elsewhere
        defer { v6.forEach { close($0) } }
        #expect(throws: SocketError.self) { try ListenHosts.listen(hosts: ["127.0.0.1", "::1"], port: port, dynamicRanges: nil) }
        do {
            _ = try ListenHosts.listen(hosts: ["127.0.0.1", "::1"], port: port, dynamicRanges: nil)
        } catch let error as SocketError {
            #expect(error.code == EADDRINUSE)
            #expect("\(error)".contains("127.0.0.1"))
        }
    }
}
