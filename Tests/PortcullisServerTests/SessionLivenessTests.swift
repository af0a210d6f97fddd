import Testing
@testable import PortcullisServer

/// The dead-peer and idle watch without libssh: counters and a clock in, asks and ends out.
@Suite struct SessionLivenessTests {
    private static let s: UInt64 = 1_000_000_000

    @Test func silentClientIsAskedCountMaxTimesThenDropped() {
        var watch = SessionLiveness(interval: 1, countMax: 3, now: 0)
        #expect(watch.due(now: Self.s / 2, idleTimeout: nil) == .none)
        #expect(watch.deadline(idleTimeout: nil) == 1 * Self.s)
        #expect(watch.due(now: 1 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 1 * Self.s + 1, idleTimeout: nil) == .none)
        #expect(watch.deadline(idleTimeout: nil) == 2 * Self.s)
        #expect(watch.due(now: 2 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 3 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.unanswered == 3)
        #expect(watch.due(now: 4 * Self.s, idleTimeout: nil)
                == .end(reason: "client did not answer 3 keepalives (1 s apart)"))
    }

    @Test func anythingReceivedResetsTheCount() {
        var watch = SessionLiveness(interval: 15, countMax: 3, now: 0)
        #expect(watch.due(now: 15 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 30 * Self.s, idleTimeout: nil) == .askClient)
        // The answer to the asks (or any packet) arrives.
        watch.observe(received: 120, activity: 0, now: 31 * Self.s)
        #expect(watch.unanswered == 0)
        #expect(watch.deadline(idleTimeout: nil) == 46 * Self.s)
        #expect(watch.due(now: 45 * Self.s, idleTimeout: nil) == .none)
        #expect(watch.due(now: 46 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 61 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 76 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 91 * Self.s, idleTimeout: nil)
                == .end(reason: "client did not answer 3 keepalives (15 s apart)"))
    }

    @Test func aHealthyClientAnsweringEveryAskIsNeverDropped() {
        var watch = SessionLiveness(interval: 1, countMax: 1, now: 0)
        var received: UInt64 = 0
        for _ in 1...100 {
            // The loop wakes at the deadline; the client answers 10 ms after each ask.
            let now = watch.deadline(idleTimeout: nil)!
            #expect(watch.due(now: now, idleTimeout: nil) == .askClient)
            received += 36
            watch.observe(received: received, activity: 0, now: now + Self.s / 100)
        }
        #expect(watch.unanswered == 0)
    }

    @Test func intervalZeroNeverAsks() {
        var watch = SessionLiveness(interval: 0, countMax: 3, now: 0)
        #expect(watch.deadline(idleTimeout: nil) == nil)
        #expect(watch.due(now: 1_000_000 * Self.s, idleTimeout: nil) == .none)
    }

    @Test func idleTimeoutCountsForwardingNotKeepaliveAnswers() {
        var watch = SessionLiveness(interval: 1, countMax: 3, now: 0)
        // Keepalive answers keep coming: the client is alive, but nothing is forwarded.
        for second in 1...299 {
            let now = UInt64(second) * Self.s
            _ = watch.due(now: now, idleTimeout: 300)
            watch.observe(received: UInt64(second) * 40, activity: 0, now: now)
        }
        #expect(watch.deadline(idleTimeout: 300) == 300 * Self.s)
        #expect(watch.due(now: 300 * Self.s, idleTimeout: 300) == .end(reason: "idle for 300 s (idle_timeout)"))
    }

    @Test func forwardingOrANewChannelRestartsTheIdleClock() {
        var watch = SessionLiveness(interval: 0, countMax: 3, now: 0)
        watch.observe(received: 10, activity: 5, now: 200 * Self.s)
        #expect(watch.due(now: 300 * Self.s, idleTimeout: 300) == .none)
        #expect(watch.deadline(idleTimeout: 300) == 500 * Self.s)
        #expect(watch.due(now: 500 * Self.s, idleTimeout: 300) == .end(reason: "idle for 300 s (idle_timeout)"))
        // No idle timeout (nil or 0): never ends for idleness.
        #expect(watch.due(now: 10_000 * Self.s, idleTimeout: nil) == .none)
        #expect(watch.due(now: 10_000 * Self.s, idleTimeout: 0) == .none)
    }

    @Test func oneKeepaliveIsSingular() {
        var watch = SessionLiveness(interval: 2, countMax: 1, now: 0)
        #expect(watch.due(now: 2 * Self.s, idleTimeout: nil) == .askClient)
        #expect(watch.due(now: 4 * Self.s, idleTimeout: nil) == .end(reason: "client did not answer 1 keepalive (2 s apart)"))
    }

    @Test func hugeSettingsDoNotOverflow() {
        var watch = SessionLiveness(interval: Int.max, countMax: 3, now: 5 * Self.s)
        #expect(watch.due(now: 10 * Self.s, idleTimeout: Int.max) == .none)
        #expect(watch.deadline(idleTimeout: Int.max)! > 1_000_000 * Self.s)
    }
}
