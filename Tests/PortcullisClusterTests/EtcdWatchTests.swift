import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

@Suite(.serialized)
struct EtcdWatchTests {
    @Test func aWatchSeesAPutWithinOneSecond() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let log = EventLog()
        let start = try client.put("/other", "x") + 1
        let watch = EtcdWatch(client: client, prefix: "/w/", fromRevision: start) { log.append($0) }
        defer { watch.cancel() }
        let revision = try client.put("/w/a", "1")
        try client.put("/elsewhere", "ignored")
        try waitUntil("the watch to see the put", seconds: 1) { log.events.count == 1 }
        let event = log.events[0]
        #expect(event.kind == .put && event.kv.keyString == "/w/a" && event.kv.valueString == "1")
        #expect(event.revision == revision)
        try client.delete("/w/a")
        try waitUntil("the watch to see the delete", seconds: 1) { log.events.count == 2 }
        #expect(log.events[1].kind == .delete && log.events[1].kv.keyString == "/w/a")
        watch.cancel()
        try waitUntil("the watch thread to end", seconds: 2) { watch.isStopped }
        try client.put("/w/b", "after cancel")
        usleep(300_000)
        #expect(log.events.count == 2)
    }

    @Test func aWatchResumesAfterEtcdRestartsWithoutLosingOrRepeatingEvents() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url], requestTimeout: 1)
        let log = EventLog()
        // A long retry delay: the writes after the restart land before the watch reconnects, so
        // they must come from history (start_revision), not from a fresh "from now" watch.
        let watch = EtcdWatch(client: client, prefix: "/w/", retryDelay: 1.5) { log.append($0) }
        defer { watch.cancel() }
        try waitUntil("the watch to be created", seconds: 5) { watch.nextRevision > 0 }
        var expected = [try client.put("/w/1", "a"), try client.put("/w/2", "b")]
        try waitUntil("the first events", seconds: 2) { log.events.count == 2 }
        etcd.kill()
        try etcd.start()
        expected.append(try client.put("/w/3", "c"))
        expected.append(try client.put("/w/1", "a2"))
        try client.delete("/w/2")
        expected.append(try #require(try client.get("/w/1")).modRevision + 1)
        try waitUntil("the events after the restart", seconds: 15) { log.events.count >= 5 }
        usleep(300_000)
        let events = log.events
        #expect(events.map(\.revision) == expected)
        #expect(events.map(\.kv.keyString) == ["/w/1", "/w/2", "/w/3", "/w/1", "/w/2"])
        #expect(events.map(\.kind) == [.put, .put, .put, .put, .delete])
        #expect(events[3].kv.valueString == "a2")
    }
}
