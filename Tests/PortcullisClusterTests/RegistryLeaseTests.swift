import PortcullisCluster
import Testing

/// The lease/fencing decisions alone: times in, steps out.
struct RegistryLeaseTests {
    let a = LeaseID(11)
    let b = LeaseID(12)

    func held(ttl: Double = 3, at time: Double = 100) -> RegistryLease {
        var state = RegistryLease(ttl: ttl)
        state.attempting(at: time)
        state.granted(a, ttl: ttl, sentAt: time)
        return state
    }

    @Test func withoutALeaseTheFirstStepIsAGrantAndNothingIsClaimable() {
        let state = RegistryLease(ttl: 3)
        #expect(state.next(now: 5) == .grant(revoking: nil))
        guard case .failure(let why) = state.claimable(now: 5) else { Issue.record("claimable without a lease"); return }
        #expect(why.reason == "cluster registry unreachable: no lease held")
        #expect(!state.serves(a, now: 5))
    }

    @Test func keepAlivesGoEveryThirdOfTheTTL() {
        let state = held()
        #expect(state.margin == 0.6)
        #expect(state.next(now: 100.5) == .wait(until: 101))
        #expect(state.next(now: 101) == .keepAlive(a))
        #expect(state.servingUntil == 102.4)
    }

    @Test func aConfirmationCountsFromWhenTheKeepAliveWasSentNotAnswered() {
        var state = held()
        state.attempting(at: 101)
        // The answer came late (at 101.9): the lease was renewed no earlier than 101.
        state.confirmed(a, ttl: 3, sentAt: 101)
        #expect(state.servingUntil == 103.4)
        #expect(state.next(now: 101.95) == .wait(until: 102))
        #expect(state.next(now: 102) == .keepAlive(a))
    }

    @Test func failedKeepAlivesRefuseNewClaimsButServeUntilTheFence() {
        var state = held()
        state.attempting(at: 101)
        state.failed("etcd 127.0.0.1:2379: cannot connect: Connection refused")
        guard case .failure(let why) = state.claimable(now: 101.1) else { Issue.record("claimable while unreachable"); return }
        #expect(why.reason == "cluster registry unreachable: etcd 127.0.0.1:2379: cannot connect: Connection refused")
        // Existing claims go on while the lease is confirmed recently enough...
        #expect(state.serves(a, now: 102.3))
        // ...retries come faster...
        #expect(state.next(now: 101.1) == .wait(until: 101.3))
        #expect(state.next(now: 101.3) == .keepAlive(a))
        // ...and past TTL - margin the lease is fenced, whatever else is due.
        #expect(!state.serves(a, now: 102.4))
        #expect(state.next(now: 102.4) == .fence(a))
    }

    @Test func aKeepAliveAnsweredAgainClearsTheFailure() {
        var state = held()
        state.attempting(at: 101)
        state.failed("timed out")
        state.attempting(at: 101.3)
        state.confirmed(a, ttl: 3, sentAt: 101.3)
        #expect(state.failure == nil)
        #expect(state.claimable(now: 101.4) == .success(a))
        #expect(state.servingUntil == 103.7)
    }

    @Test func aProcessStoppedPastItsTTLFencesBeforeAnythingElse() {
        // SIGSTOP at 100.1, SIGCONT at 110: the first decision is the fence, never a keep-alive
        // that could make the old claims look served again.
        let state = held()
        #expect(state.next(now: 110) == .fence(a))
        #expect(!state.serves(a, now: 110))
        #expect(state.claimable(now: 110) != .success(a))
    }

    @Test func aLateAnswerCannotReviveAFencedLease() {
        var state = held()
        state.attempting(at: 101)
        // The keep-alive was sent before the fence but is answered after it.
        state.fenced(a)
        state.confirmed(a, ttl: 3, sentAt: 101)
        #expect(state.lease == nil)
        #expect(!state.serves(a, now: 101.5))
        #expect(state.next(now: 101.5) == .grant(revoking: a))
    }

    @Test func aConfirmationSentAfterTheServingDeadlineDoesNotCount() {
        var state = held()
        // A keep-alive sent at 102.5 (past 102.4, the fence was late to run) is not trusted: the
        // claims were already unserved on time, and other proxies may have claimed them.
        state.confirmed(a, ttl: 3, sentAt: 102.5)
        #expect(state.servingUntil == 102.4)
        #expect(state.next(now: 102.5) == .fence(a))
    }

    @Test func afterAFenceANewLeaseIsGrantedAndTheOldOneRevoked() {
        var state = held()
        state.fenced(a)
        #expect(state.next(now: 103) == .grant(revoking: a))
        state.attempting(at: 103)
        state.revoked(a)
        state.granted(b, ttl: 3, sentAt: 103)
        #expect(state.retired == nil)
        #expect(state.claimable(now: 103.1) == .success(b))
        // Claims of the old lease are never served again, whatever the time.
        #expect(!state.serves(a, now: 103.1))
        #expect(state.serves(b, now: 103.1))
    }

    @Test func aGrantThatFailsIsRetriedAfterTheRetryInterval() {
        var state = RegistryLease(ttl: 2)
        state.attempting(at: 50)
        state.failed("cannot connect")
        #expect(state.next(now: 50.1) == .wait(until: 50.2))
        #expect(state.next(now: 50.2) == .grant(revoking: nil))
    }

    @Test func aLostLeaseIsNotServedAndNotRevoked() {
        var state = held()
        state.lost(a)
        #expect(!state.serves(a, now: 100.5))
        #expect(state.next(now: 100.5) == .grant(revoking: nil))
    }

    @Test func aClaimIsRefusedOnceTheLeaseNoLongerServes() {
        // A keep-alive that is late (a loaded machine) does not refuse claims while the lease serves.
        let state = held()
        #expect(state.claimable(now: 102.3) == .success(a))
        guard case .failure(let why) = state.claimable(now: 102.4) else { Issue.record("claimable at the fence"); return }
        #expect(why.reason == "cluster registry unreachable: lease not confirmed since 2.4 s")
    }

    @Test func anEtcdGrantingALongerTTLMovesTheDeadlines() {
        var state = RegistryLease(ttl: 1)
        state.attempting(at: 0)
        state.granted(a, ttl: 2, sentAt: 0)
        #expect(state.servingUntil == 1.6)
        #expect(state.next(now: 0.5) == .wait(until: 2.0 / 3))
    }
}
