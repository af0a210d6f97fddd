import Foundation
@testable import PortcullisCluster
import PortcullisTestSupport
import Testing

@Suite(.serialized)
struct EtcdEndpointFailoverTests {
    @Test func aRefusedEndpointFailsAtOnceNamingIt() throws {
        let dead = EtcdEndpoint(host: "127.0.0.1", port: try freePort())
        let client = try EtcdClient(endpoints: [dead], requestTimeout: 2)
        #expect {
            _ = try client.get("k")
        } throws: { error in
            guard case let .unreachable(endpoint, reason) = error as? EtcdError else { return false }
            return endpoint == dead && reason.contains("refused") && "\(error)".contains(dead.description)
        }
    }

    @Test func aSilentEndpointTimesOutWithinTheDeadline() throws {
        let silent = try SilentListener()
        let client = try EtcdClient(endpoints: [silent.endpoint], requestTimeout: 1)
        let start = Date()
        #expect {
            _ = try client.get("k")
        } throws: { error in
            guard case let .timedOut(endpoint, _) = error as? EtcdError else { return false }
            return endpoint == silent.endpoint
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.9 && elapsed < 3, "took \(elapsed) s")
    }

    @Test func theNextEndpointIsUsedWhenOneIsDownOrSilent() throws {
        let etcd = try EtcdServer()
        let dead = EtcdEndpoint(host: "127.0.0.1", port: try freePort())
        let silent = try SilentListener()
        let client = try EtcdClient(endpoints: [dead, silent.endpoint, etcd.endpoint], requestTimeout: 1)
        // A write never reached etcd on the refused endpoint, so it moves on; the silent one may have
        // got it, so a write is not repeated elsewhere: it fails, naming the endpoint.
        let writer = try EtcdClient(endpoints: [dead, etcd.endpoint], requestTimeout: 1)
        try writer.put("k", "v")
        let start = Date()
        #expect(try client.get("k")?.valueString == "v")
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(throws: EtcdError.self) { try client.put("k", "w") }
        #expect(try writer.get("k")?.valueString == "v")
    }

    @Test func allEndpointsFailingListsEach() throws {
        let first = EtcdEndpoint(host: "127.0.0.1", port: try freePort())
        let second = EtcdEndpoint(host: "127.0.0.1", port: try freePort())
        let client = try EtcdClient(endpoints: [first, second], requestTimeout: 1)
        #expect {
            _ = try client.get("k")
        } throws: { error in
            guard case let .allEndpointsFailed(errors) = error as? EtcdError else { return false }
            let text = "\(error)"
            return errors.count == 2 && text.contains(first.description) && text.contains(second.description)
        }
    }
}
