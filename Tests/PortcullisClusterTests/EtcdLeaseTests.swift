import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

@Suite(.serialized)
struct EtcdLeaseTests {
    @Test func aLeasedKeyVanishesAfterItsTTLUnlessKeptAlive() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let abandoned = try client.grantLease(ttl: 2)
        let kept = try client.grantLease(ttl: 2)
        #expect(abandoned != kept)
        try client.put("node/abandoned", "x", lease: abandoned)
        try client.put("node/kept", "y", lease: kept)
        #expect(try client.get("node/kept")?.lease == kept)
        let start = Date()
        try waitUntil("the key without keepalive to expire", seconds: 15) {
            #expect(try client.keepAlive(kept) == 2)
            usleep(300_000)
            return try client.get("node/abandoned") == nil
        }
        #expect(Date().timeIntervalSince(start) >= 1.5)
        // Keep renewing past another full TTL: the kept key stays.
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            try client.keepAlive(kept)
            usleep(500_000)
        }
        #expect(try client.get("node/kept")?.valueString == "y")
        try client.revoke(kept)
        #expect(try client.get("node/kept") == nil)
        #expect(throws: EtcdError.self) { try client.keepAlive(kept) }
    }
}
