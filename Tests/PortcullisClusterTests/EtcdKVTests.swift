import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

/// The key-value calls against a real etcd.
@Suite(.serialized)
struct EtcdKVTests {
    @Test func putThenGetReturnsTheValueAndDeleteRemovesIt() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let revision = try client.put("config/a", "one")
        let kv = try #require(try client.get("config/a"))
        #expect(kv.valueString == "one")
        #expect(kv.modRevision == revision)
        #expect(kv.createRevision == revision)
        #expect(try client.get("config/missing") == nil)
        #expect(try client.delete("config/a") == 1)
        #expect(try client.get("config/a") == nil)
    }

    @Test func rangeReturnsExactlyTheKeysUnderThePrefixInOrder() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        try client.put("/p/b", "2")
        try client.put("/p/a", "1")
        try client.put("/q/c", "3")
        try client.put("/p", "not under /p/")
        let (kvs, revision) = try client.range(prefix: "/p/")
        #expect(kvs.map(\.keyString) == ["/p/a", "/p/b"])
        #expect(kvs.map(\.valueString) == ["1", "2"])
        #expect(revision >= 4)
    }

    @Test func twoWritersWithTheSameExpectedRevisionExactlyOneWins() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let base = try client.put("leader", "nobody")
        let lock = NSLock()
        nonisolated(unsafe) var results: [Int: SwapResult] = [:]
        nonisolated(unsafe) var failure: Error?
        DispatchQueue.concurrentPerform(iterations: 2) { writer in
            do {
                let result = try client.compareAndSwap("leader", "writer-\(writer)", if: .modRevision(base))
                lock.withLock { results[writer] = result }
            } catch { lock.withLock { failure = error } }
        }
        if let failure { throw failure }
        let winners = results.filter { $0.value.succeeded }
        try #require(winners.count == 1)
        let winner = winners.first!.key
        let loser = 1 - winner
        guard case let .conflict(current, _) = results[loser]! else { Issue.record("loser swapped"); return }
        #expect(current?.valueString == "writer-\(winner)")
        #expect(try client.get("leader")?.valueString == "writer-\(winner)")
        // The loser can retry from the revision it was shown.
        let retry = try client.compareAndSwap("leader", "writer-\(loser)", if: .modRevision(current!.modRevision))
        #expect(retry.succeeded)
    }

    @Test func createIfAbsentRefusesTheSecondCreate() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let first = try client.compareAndSwap("lock", "first", if: .absent)
        #expect(first.succeeded)
        let second = try client.compareAndSwap("lock", "second", if: .absent)
        guard case let .conflict(current, _) = second else { Issue.record("second create succeeded"); return }
        #expect(current?.valueString == "first")
        #expect(try client.get("lock")?.valueString == "first")
    }

    @Test func aResponseLargerThanTheLimitIsRefused() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url], maxResponseBytes: 64 * 1024)
        let value = String(repeating: "x", count: 30 * 1024)
        for name in ["a", "b", "c"] { try client.put("/big/\(name)", value) }
        // One value (base64: 40 KiB) fits; all three do not.
        #expect(try client.get("/big/a")?.value.count == value.utf8.count)
        #expect {
            _ = try client.range(prefix: "/big/")
        } throws: { error in
            guard case let .responseTooLarge(endpoint, limit) = error as? EtcdError else { return false }
            return endpoint == etcd.endpoint && limit == 64 * 1024
        }
    }

    @Test func etcdsOwnErrorIsReported() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        // A lease that does not exist: etcd says so, and the error names the endpoint.
        #expect {
            try client.put("k", "v", lease: LeaseID(12345))
        } throws: { error in
            let text = "\(error)"
            return text.contains(etcd.url) && text.contains("requested lease not found")
        }
    }

    @Test func httpsAndMalformedEndpointsAreRefused() {
        #expect(throws: EtcdError.self) { try EtcdEndpoint(parsing: "https://127.0.0.1:2379") }
        #expect(throws: EtcdError.self) { try EtcdEndpoint(parsing: "http://127.0.0.1") }
        #expect(throws: EtcdError.self) { try EtcdEndpoint(parsing: "http://127.0.0.1:99999") }
        #expect((try? EtcdEndpoint(parsing: "http://[::1]:2379"))?.host == "::1")
    }
}
