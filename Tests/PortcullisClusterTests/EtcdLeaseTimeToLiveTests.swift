import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

@Suite(.serialized)
struct EtcdLeaseTimeToLiveTests {
    @Test func timeToLiveCountsDownAndIsNilOnceTheLeaseIsGone() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let lease = try client.grantLease(ttl: 30)
        let fresh = try #require(try client.leaseTimeToLive(lease))
        #expect(fresh.lease == lease && fresh.granted == 30)
        #expect((28...30).contains(fresh.remaining))
        #expect(fresh.sinceRenewal <= 2)
        // Some time passes: fewer seconds left, the age grows; a keep-alive resets both.
        try waitUntil("a second of the lease to pass", seconds: 10) {
            try #require(try client.leaseTimeToLive(lease)).remaining <= 28
        }
        #expect(try #require(try client.leaseTimeToLive(lease)).sinceRenewal >= 2)
        try client.keepAlive(lease)
        #expect(try #require(try client.leaseTimeToLive(lease)).remaining >= 29)
        try client.revoke(lease)
        #expect(try client.leaseTimeToLive(lease) == nil)
        #expect(try client.leaseTimeToLive(LeaseID(12345)) == nil)
    }

    @Test func aLeaseThatExpiresIsNil() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let lease = try client.grantLease(ttl: 1)
        try client.put("members/gone", "{}", lease: lease)
        try waitUntil("the lease to expire", seconds: 15) { try client.leaseTimeToLive(lease) == nil }
        #expect(try client.get("members/gone") == nil)
    }
}
