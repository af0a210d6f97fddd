import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

/// The registry against a real etcd: members, claims, fencing.
@Suite(.serialized)
struct TunnelRegistryTests {
    /// The sessions each fence ended, with the reason.
    final class Fences: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [([UInt64], String)] = []
        func append(_ sessions: [UInt64], _ reason: String) { lock.withLock { items.append((sessions, reason)) } }
        var all: [([UInt64], String)] { lock.withLock { items } }
    }

    func registry(_ etcd: EtcdServer, _ id: String, ttl: Double = 2, fences: Fences = Fences(),
                  sessions: @escaping @Sendable () -> Int = { 0 }) -> TunnelRegistry {
        TunnelRegistry(endpoints: [etcd.endpoint], prefix: "/portcullis/",
                       member: .init(proxyID: id, advertise: "127.0.0.1:22\(id.count)", hostKey: "ssh-ed25519 AAAA\(id)"),
                       ttl: ttl, sessionCount: sessions, onFence: { fences.append($0, $1) })
    }

    @Test func aMemberIsRegisteredUnderItsLeaseAndAProxyIDInUseIsRefused() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "proxy-a")
        try a.start()
        defer { a.stop() }
        let record = try #require(try client.get("/portcullis/members/proxy-a"))
        #expect(record.lease == a.currentLease)
        let text = record.valueString
        #expect(text.contains(#""advertise":"127.0.0.1:227""#))
        #expect(text.contains(#""host_key":"ssh-ed25519 AAAAproxy-a""#))
        #expect(text.contains(#""sessions":0"#))
        #expect(text.contains(#""started":""#))

        let twin = registry(etcd, "proxy-a")
        let error = #expect(throws: TunnelRegistry.StartError.self) { try twin.start() }
        #expect(error?.description.hasPrefix(#"proxy_id "proxy-a" is already registered in etcd by a live proxy (/portcullis/members/proxy-a: advertise 127.0.0.1:227, started "#) == true)
        // The refused twin left nothing behind: the record is still A's.
        #expect(try client.get("/portcullis/members/proxy-a")?.lease == a.currentLease)
    }

    @Test func theSessionCountIsRewrittenWhenItChanges() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let count = Counter()
        let a = registry(etcd, "a", sessions: { count.value })
        try a.start()
        defer { a.stop() }
        count.value = 3
        try waitUntil("the member record to say 3 sessions", seconds: 5) {
            try client.get("/portcullis/members/a")?.valueString.contains(#""sessions":3"#) == true
        }
    }

    @Test func aClaimIsUniqueAcrossProxiesAndGoesWhenReleased() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a"), b = registry(etcd, "b")
        try a.start(); try b.start()
        defer { a.stop(); b.stop() }
        let target = ClaimTarget.socket(relativePath: "alex/web.sock")
        guard case .granted(let claim) = a.claim(target, session: 7, key: "alex") else {
            Issue.record("A's claim refused"); return
        }
        let stored = try #require(try client.get("/portcullis/claims/socket/alex/web.sock"))
        #expect(stored.lease == a.currentLease)
        #expect(stored.valueString.contains(#""proxy":"a""#) && stored.valueString.contains(#""session":7"#)
                && stored.valueString.contains(#""key":"alex""#))
        #expect(claim.isServing)

        guard case .taken(let holder) = b.claim(target, session: 1, key: "sam") else {
            Issue.record("B's second claim of the same path was not refused"); return
        }
        #expect(holder.proxy == "a" && holder.session == 7 && holder.key == "alex")
        // A TCP claim is its own namespace.
        guard case .granted(let tcp) = b.claim(.tcp(host: "localhost", port: 8080), session: 1, key: "sam") else {
            Issue.record("B's TCP claim refused"); return
        }
        #expect(try client.get("/portcullis/claims/tcp/localhost:8080") != nil)
        // A claim nobody holds any more is released.
        _ = consume tcp
        try waitUntil("the unheld claim's record to go", seconds: 5) {
            try client.get("/portcullis/claims/tcp/localhost:8080") == nil
        }

        // A release is deleted off the caller's thread, at once.
        claim.release()
        try waitUntil("the released claim's record to go", seconds: 5) {
            try client.get("/portcullis/claims/socket/alex/web.sock") == nil
        }
        guard case .granted = b.claim(target, session: 1, key: "sam") else {
            Issue.record("B could not claim the released path"); return
        }
    }

    @Test func aNameIsPublishedOncePerClusterUnderTheLeaseAndGoesWhenReleased() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a"), b = registry(etcd, "b")
        try a.start(); try b.start()
        defer { a.stop(); b.stop() }
        guard case .granted(let claim) = a.claimName("alex-ssh", session: 7, key: "alex", port: 22) else {
            Issue.record("A's publish refused"); return
        }
        let stored = try #require(try client.get("/portcullis/names/alex-ssh"))
        #expect(stored.lease == a.currentLease)
        #expect(stored.valueString == #"{"key":"alex","port":22,"proxy":"a","session":7}"#)
        // Another port of the same name is the same name.
        guard case .taken(let holder) = b.claimName("alex-ssh", session: 1, key: "sam", port: 2222) else {
            Issue.record("B's second publish of the same name was not refused"); return
        }
        #expect(holder == NameRecord(proxy: "a", session: 7, key: "alex", port: 22))
        claim.release()
        try waitUntil("the withdrawn name's record to go", seconds: 5) {
            try client.get("/portcullis/names/alex-ssh") == nil
        }
        guard case .granted = b.claimName("alex-ssh", session: 1, key: "sam", port: 2222) else {
            Issue.record("B could not publish the withdrawn name"); return
        }
    }

    @Test func aReleaseNeverDeletesAClaimWrittenOverIt() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a")
        try a.start()
        defer { a.stop() }
        guard case .granted(let claim) = a.claim(.tcp(host: "0.0.0.0", port: 9000), session: 1, key: "k") else {
            Issue.record("claim refused"); return
        }
        // Someone replaced the record meanwhile (an administrator, say): it is not ours to delete.
        try client.put("/portcullis/claims/tcp/0.0.0.0:9000", #"{"proxy":"other"}"#)
        claim.release()
        a.awaitReleases()
        #expect(try client.get("/portcullis/claims/tcp/0.0.0.0:9000")?.valueString == #"{"proxy":"other"}"#)
    }

    @Test func aReleaseNeverWaitsForEtcdAndItsRecordGoesOnceEtcdAnswers() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a", ttl: 10)
        try a.start()
        defer { a.stop() }
        guard case .granted(let claim) = a.claim(.socket(relativePath: "alex/hung.sock"), session: 3, key: "alex") else {
            Issue.record("claim refused"); return
        }
        etcd.pause()
        let started = monotonicSeconds()
        claim.release()
        let took = monotonicSeconds() - started
        etcd.resume()
        // The delete (up to a second's timeout while etcd is stopped) is not the caller's to wait for.
        #expect(took < 0.1, "release took \(took) s while etcd was stopped")
        try waitUntil("the released claim's record to go once etcd answers", seconds: 10) {
            try client.get("/portcullis/claims/socket/alex/hung.sock") == nil
        }
    }

    @Test func aClaimWhoseTxnWentUnansweredButWasAppliedAfterAllIsRemoved() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a", ttl: 10)
        try a.start()
        defer { a.stop() }
        let lease = try #require(a.currentLease)
        let log = EventLog()
        let watch = EtcdWatch(client: client, prefix: "/portcullis/claims/", fromRevision: try client.put("/other", "x") + 1) {
            log.append($0)
        }
        defer { watch.cancel() }
        // etcd stopped past the claim's timeout (1 s): the claim is refused, but etcd, running
        // again, may still apply the txn it had read (it does, often): a record nobody holds.
        for round in 0..<4 {
            etcd.pause()
            let outcome = a.claim(.socket(relativePath: "unsure/\(round)"), session: UInt64(round), key: "k")
            etcd.resume()
            guard case .unavailable(let reason) = outcome else {
                Issue.record("round \(round): a claim with etcd stopped was not refused"); return
            }
            #expect(reason.hasPrefix("cluster registry unreachable: "))
            usleep(200_000)
        }
        // Every such record goes after a keep-alive, under the same (live) lease.
        try waitUntil("no claim left", seconds: 12) { try client.range(prefix: "/portcullis/claims/").kvs.isEmpty }
        #expect(a.currentLease == lease)
        let puts = log.events.filter { $0.kind == .put }.count
        try waitUntil("the watch to see every delete", seconds: 2) { log.events.filter { $0.kind == .delete }.count == puts }
    }

    @Test func aKeyReleasedOnThisProxyCanBeClaimedAgainAtOnce() throws {
        let etcd = try EtcdServer()
        let a = registry(etcd, "a")
        try a.start()
        defer { a.stop() }
        // The delete may still be on its way when the claim comes: the record is then known to be
        // ours to delete, and the claim deletes it itself rather than being refused by itself.
        for round in 0..<50 {
            guard case .granted(let claim) = a.claim(.tcp(host: "localhost", port: 7000), session: UInt64(round), key: "k") else {
                Issue.record("claim \(round) of a key this proxy released was refused"); return
            }
            claim.release()
        }
    }

    @Test func aLeaseRevokedBehindTheProxysBackFencesItsClaimsAndItRegistersAgain() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let fences = Fences()
        let a = registry(etcd, "a", fences: fences)
        try a.start()
        defer { a.stop() }
        guard case .granted(let claim) = a.claim(.socket(relativePath: "s"), session: 42, key: "k") else {
            Issue.record("claim refused"); return
        }
        let old = try #require(a.currentLease)
        try client.revoke(old)
        try waitUntil("the fence", seconds: 5) { !fences.all.isEmpty }
        #expect(fences.all.first?.0 == [42] && fences.all.first?.1 == "lease lost")
        #expect(!claim.isServing && claim.lostReason == "lease lost")
        try waitUntil("a new lease and member record", seconds: 5) {
            guard let lease = a.currentLease, lease != old else { return false }
            return try client.get("/portcullis/members/a")?.lease == lease
        }
        #expect(!claim.isServing)
        guard case .granted = a.claim(.socket(relativePath: "s"), session: 43, key: "k") else {
            Issue.record("claim after re-registering refused"); return
        }
    }

    @Test func etcdDownRefusesNewClaimsFencesWithinTheTTLAndRecovers() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let fences = Fences()
        let a = registry(etcd, "a", fences: fences)
        try a.start()
        defer { a.stop() }
        guard case .granted(let held) = a.claim(.socket(relativePath: "held"), session: 5, key: "k") else {
            Issue.record("claim refused"); return
        }
        etcd.kill()
        let stopped = monotonicSeconds()
        guard case .unavailable(let reason) = a.claim(.socket(relativePath: "new"), session: 6, key: "k") else {
            Issue.record("a claim with etcd down was not refused"); return
        }
        #expect(reason.hasPrefix("cluster registry unreachable: "))
        // The held claim is served until the fence, which comes before the TTL could end on etcd.
        try waitUntil("the fence", seconds: 5) { !fences.all.isEmpty }
        let fencedAfter = monotonicSeconds() - stopped
        #expect(fencedAfter < 2, "fenced \(fencedAfter) s after etcd went away; the TTL is 2 s")
        #expect(fences.all.first?.0 == [5])
        #expect(!held.isServing)

        try etcd.start()
        try waitUntil("a member record again", seconds: 10) {
            guard let lease = a.currentLease else { return false }
            return try client.get("/portcullis/members/a")?.lease == lease
        }
        guard case .granted = a.claim(.socket(relativePath: "new"), session: 6, key: "k") else {
            Issue.record("claim after etcd came back refused"); return
        }
    }

    @Test func stoppingRevokesTheLeaseSoEveryRecordGoesAtOnce() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = registry(etcd, "a")
        try a.start()
        guard case .granted = a.claim(.socket(relativePath: "x"), session: 1, key: "k") else {
            Issue.record("claim refused"); return
        }
        a.stop()
        #expect(try client.range(prefix: "/portcullis/").kvs.isEmpty)
    }

    @Test func startingWithEtcdDownRefusesClaimsUntilRegistered() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        etcd.kill()
        let a = registry(etcd, "a")
        try a.start()
        defer { a.stop() }
        guard case .unavailable(let reason) = a.claim(.socket(relativePath: "x"), session: 1, key: "k") else {
            Issue.record("a claim before registering was not refused"); return
        }
        #expect(reason.hasPrefix("cluster registry unreachable: etcd \(etcd.url): cannot connect"))
        try etcd.start()
        try waitUntil("the member record", seconds: 10) {
            guard let lease = a.currentLease else { return false }
            return try client.get("/portcullis/members/a")?.lease == lease
        }
        guard case .granted = a.claim(.socket(relativePath: "x"), session: 1, key: "k") else {
            Issue.record("claim after registering refused"); return
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int {
        get { lock.withLock { count } }
        set { lock.withLock { count = newValue } }
    }
}
