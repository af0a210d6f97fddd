import Foundation
import PortcullisCluster
import Testing

/// Several guarded writes in one etcd transaction: all of them, or none and the conflict named.
@Suite struct EtcdTransactionTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func everyWriteOrNoneAndTheConflictingKeyIsNamed() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        try client.put("/t/keys/taken", "already here")
        let gone = try client.put("/t/keys/old", "to remove")

        // One create of a name that is taken: nothing of the three is written.
        let refused = try client.transact([
            .create(key: Self.bytes("/t/keys/new"), value: Self.bytes("new")),
            .create(key: Self.bytes("/t/keys/taken"), value: Self.bytes("mine")),
            .delete(key: Self.bytes("/t/keys/old"), modRevision: gone),
        ])
        guard case .conflict(let key, let now) = refused else {
            Issue.record("expected a conflict, got \(refused)")
            return
        }
        #expect(String(decoding: key, as: UTF8.self) == "/t/keys/taken" && now > 0)
        #expect(try client.get("/t/keys/new") == nil)
        #expect(try client.get("/t/keys/old")?.value == Self.bytes("to remove"))
        #expect(try client.get("/t/keys/taken")?.value == Self.bytes("already here"))

        // A removal of an entry changed since it was read: named, nothing written.
        let changed = try client.put("/t/keys/old", "changed")
        let stale = try client.transact([
            .create(key: Self.bytes("/t/keys/new"), value: Self.bytes("new")),
            .delete(key: Self.bytes("/t/keys/old"), modRevision: gone),
        ])
        #expect(stale == .conflict(key: Self.bytes("/t/keys/old"), currentModRevision: changed))
        #expect(try client.get("/t/keys/new") == nil)

        // All conditions hold: every write is made.
        let done = try client.transact([
            .create(key: Self.bytes("/t/keys/new"), value: Self.bytes("new")),
            .delete(key: Self.bytes("/t/keys/old"), modRevision: changed),
        ])
        guard case .committed = done else {
            Issue.record("expected a commit, got \(done)")
            return
        }
        #expect(try client.get("/t/keys/new")?.value == Self.bytes("new"))
        #expect(try client.get("/t/keys/old") == nil)
    }

    @Test func moreWritesThanEtcdTakesAreRefusedBeforeAnythingIsSent() throws {
        let client = try EtcdClient(urls: ["http://127.0.0.1:1"])
        let writes = (0...EtcdClient.maxTransactionWrites).map {
            GuardedWrite.create(key: Self.bytes("/t/keys/k\($0)"), value: [])
        }
        #expect(throws: EtcdError.self) { try client.transact(writes) }
    }
}
