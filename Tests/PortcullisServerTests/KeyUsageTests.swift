import Foundation
import Testing
@testable import PortcullisServer

/// The per-key usage table behind max_sessions, max_listens and max_channels, and the live view
/// of sessions the control socket reads.
@Suite struct KeyUsageTests {
    @Test func aKeyIsRefusedAtItsLimitWithTheReasonAndLetInOnceOneIsGivenBack() {
        let usage = KeyUsage()
        #expect(usage.take(.session, key: "alex", limit: 2) == nil)
        #expect(usage.take(.session, key: "alex", limit: 2) == nil)
        #expect(usage.take(.session, key: "alex", limit: 2) == "key alex already has 2 sessions (max_sessions 2)")
        // Another key is counted apart.
        #expect(usage.take(.session, key: "bob", limit: 2) == nil)
        usage.release(.session, key: "alex")
        #expect(usage.take(.session, key: "alex", limit: 2) == nil)
        #expect(usage.counts(for: "alex") == KeyUsage.Counts(sessions: 2))
    }

    @Test func eachResourceHasItsOwnCountAndWordsAndNilMeansNoLimit() {
        let usage = KeyUsage()
        #expect(usage.take(.listen, key: "alex", limit: 1) == nil)
        #expect(usage.take(.listen, key: "alex", limit: 1) == "key alex already has 1 listen (max_listens 1)")
        #expect(usage.wouldRefuse(.listen, key: "alex", limit: 1) == "key alex already has 1 listen (max_listens 1)")
        #expect(usage.wouldRefuse(.channel, key: "alex", limit: 1) == nil)
        #expect(usage.take(.channel, key: "alex", limit: 0) == "key alex already has 0 channels (max_channels 0)")
        for _ in 0..<1000 { #expect(usage.take(.channel, key: "alex", limit: nil) == nil) }
        #expect(usage.counts(for: "alex") == KeyUsage.Counts(listens: 1, channels: 1000))
        // A lower limit (a reload) refuses the next one; those held stay.
        #expect(usage.take(.channel, key: "alex", limit: 10) == "key alex already has 1000 channels (max_channels 10)")
    }

    @Test func releasingMoreThanWasTakenNeverGoesNegative() {
        let usage = KeyUsage()
        usage.release(.channel, key: "alex")
        #expect(usage.counts(for: "alex") == KeyUsage.Counts())
        #expect(usage.take(.channel, key: "alex", limit: 1) == nil)
        usage.release(.channel, key: "alex")
        usage.release(.channel, key: "alex")
        #expect(usage.take(.channel, key: "alex", limit: 1) == nil)
    }

    @Test func concurrentTakersNeverExceedTheLimit() async {
        let usage = KeyUsage()
        let taken = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask { usage.take(.channel, key: "alex", limit: 50) == nil }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(taken == 50)
        #expect(usage.counts(for: "alex").channels == 50)
    }

    @Test func aSlotGivesItsResourceBackOnceWhenReleasedOrDropped() {
        let usage = KeyUsage()
        var slot: KeySlot? = KeySlot(usage: usage, key: "alex", resource: .channel)
        _ = usage.take(.channel, key: "alex", limit: nil)
        _ = usage.take(.channel, key: "alex", limit: nil)
        slot?.release()
        slot?.release()
        #expect(usage.counts(for: "alex").channels == 1)
        slot = KeySlot(usage: usage, key: "alex", resource: .channel)
        slot = nil
        #expect(usage.counts(for: "alex").channels == 0)
    }

    @Test func liveSessionsShowListensChannelsBytesAndEndOnRequest() {
        let live = LiveSessions()
        let woken = WakeCount()
        let session = LiveSession(id: 7, client: "127.0.0.1:5555") { woken.bump() }
        live.add(session)
        #expect(live.snapshot().map(\.key) == [nil])
        session.authenticated(keyName: "alex", user: "deploy")
        let listen = session.addListen(kind: "streamlocal-listen", target: "/srv/alex/web.sock")
        let channel = session.addChannel(id: 3, kind: "tcp-open", target: "127.0.0.1:5432")
        channel.sentToClient(1000)
        channel.deliveredFromClient(24)
        channel.sentToClient(1)
        let shown = live.snapshot(key: "alex")
        #expect(shown.count == 1)
        #expect(shown[0].user == "deploy" && shown[0].listens == ["/srv/alex/web.sock"])
        #expect(shown[0].channels.map(\.bytesToClient) == [1001])
        #expect(shown[0].channels.map(\.bytesFromClient) == [24])
        #expect(live.snapshot(key: "bob").isEmpty)
        var totals = live.totals()
        #expect(totals.listens == ["streamlocal-listen": 1] && totals.channels == ["tcp-open": 1])
        #expect(totals.bytesToClient == 1001 && totals.bytesFromClient == 24)
        // A closed channel's bytes stay in the totals.
        if let closed = session.removeChannel(id: 3) { live.channelClosed(closed) }
        session.removeListen(listen)
        totals = live.totals()
        #expect(totals.channels.isEmpty && totals.listens.isEmpty && totals.bytesToClient == 1001)

        #expect(live.disconnect(id: 8, reason: "disconnected by administrator") == nil)
        #expect(live.disconnect(key: "bob", reason: "disconnected by administrator").isEmpty)
        #expect(live.disconnect(id: 7, reason: "disconnected by administrator")?.id == 7)
        #expect(session.disconnectRequest == "disconnected by administrator")
        #expect(woken.value == 1)
        live.remove(session)
        #expect(live.snapshot().isEmpty)
    }
}

final class WakeCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func bump() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }

    @Test func connectionsToListensAreCountedApartFromTheKeysOwnChannels() {
        let usage = KeyUsage()
        #expect(usage.take(.arrival, key: "alex", limit: 1) == nil)
        #expect(usage.take(.arrival, key: "alex", limit: 1) == "key alex already has 1 connection to its listens (max_channels 1)")
        #expect(usage.take(.channel, key: "alex", limit: 1) == nil)
        #expect(usage.counts(for: "alex") == KeyUsage.Counts(channels: 1, arrivals: 1))
    }

    @Test func theReasonNamesTheKeyWhateverItIsCountedUnder() {
        let usage = KeyUsage()
        #expect(usage.take(.session, key: "SHA256:abc", name: "alex", limit: 1) == nil)
        #expect(usage.take(.session, key: "SHA256:abc", name: "alexis", limit: 1) == "key alexis already has 1 session (max_sessions 1)")
    }
}
