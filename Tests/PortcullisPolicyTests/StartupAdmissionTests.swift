@testable import PortcullisPolicy
import Testing

/// StartupAdmission, interleaving by interleaving: connections from sources at times, each
/// authenticating or ending unauthenticated, against OpenSSH's MaxStartups, PerSourceMaxStartups
/// and PerSourcePenalties.
@Suite struct StartupAdmissionTests {
    let flood = IPAddress("127.0.0.2")!
    let legit = IPAddress("127.0.0.3")!

    /// No per-source limit and no penalties: only max_startups.
    func onlyMaxStartups(_ spec: MaxStartups) -> StartupAdmission {
        StartupAdmission(settings: .init(maxStartups: spec, perSourceMaxStartups: nil, penalties: nil))
    }

    func admitted(_ decision: StartupAdmission.Decision) -> StartupAdmission.Startup? {
        if case .admit(let startup) = decision { return startup }
        return nil
    }

    @Test func maxStartupsRefusalChanceRisesLinearlyFromStartToFull() {
        let spec = MaxStartups.standard
        #expect(spec.refusalPercent(unauthenticated: 0) == 0)
        #expect(spec.refusalPercent(unauthenticated: 9) == 0)
        #expect(spec.refusalPercent(unauthenticated: 10) == 30)
        #expect(spec.refusalPercent(unauthenticated: 55) == 65)
        #expect(spec.refusalPercent(unauthenticated: 99) == 99)
        #expect(spec.refusalPercent(unauthenticated: 100) == 100)
        #expect(MaxStartups(start: 5, rate: 100, full: 5).refusalPercent(unauthenticated: 5) == 100)
    }

    @Test func maxStartupsAdmitsBelowStartRollsBetweenAndRefusesFromFull() {
        var admission = onlyMaxStartups(MaxStartups(start: 2, rate: 50, full: 4))
        let sources = (1...9).map { IPAddress("10.0.0.\($0)")! }
        // Below start every roll admits, even the unluckiest.
        #expect(admitted(admission.connection(from: sources[0], at: 0, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: sources[1], at: 0, roll: 0)) != nil)
        // At 2 of start 2: 50%. A roll of 49 refuses, 50 admits.
        #expect(admission.connection(from: sources[2], at: 0, roll: 49) == .refuse(.maxStartups(count: 2, percent: 50)))
        #expect(admitted(admission.connection(from: sources[2], at: 0, roll: 50)) != nil)
        // At 3: 75%.
        #expect(admission.connection(from: sources[3], at: 0, roll: 74) == .refuse(.maxStartups(count: 3, percent: 75)))
        let fourth = admitted(admission.connection(from: sources[3], at: 0, roll: 75))
        #expect(fourth != nil)
        // At full, refused whatever the roll.
        #expect(admission.connection(from: sources[4], at: 0, roll: 99) == .refuse(.maxStartups(count: 4, percent: 100)))
        #expect(admission.unauthenticated == 4)
        // One authenticates: the slot is free again.
        admission.authenticated(fourth!)
        #expect(admission.unauthenticated == 3)
        #expect(admitted(admission.connection(from: sources[4], at: 1, roll: 99)) != nil)
    }

    @Test func aSingleNumberRefusesEveryConnectionFromThatMany() {
        guard case .success(let spec) = MaxStartups.parse("3") else { Issue.record("3 must parse"); return }
        var admission = onlyMaxStartups(spec)
        for index in 0..<3 { #expect(admitted(admission.connection(from: flood, at: Double(index), roll: 0)) != nil) }
        #expect(admission.connection(from: legit, at: 3, roll: 99) == .refuse(.maxStartups(count: 3, percent: 100)))
    }

    @Test func perSourceLimitRefusesOnlyThatSourceAndTheDefaultKeepsOthersBelowStart() {
        var admission = StartupAdmission(settings: .init())
        var held: [StartupAdmission.Startup] = []
        for _ in 0..<10_000 {
            if let startup = admitted(admission.connection(from: flood, at: 0, roll: 0)) { held.append(startup) }
        }
        // The flood holds the per-source default and no more; another source is never refused,
        // not even by chance (the count stays below max_startups' start).
        #expect(held.count == Limits.defaultPerSourceMaxStartups)
        #expect(admission.connection(from: flood, at: 0, roll: 99)
                == .refuse(.perSource(source: SourceBlock(flood, sizes: .standard), limit: 5)))
        let other = admitted(admission.connection(from: legit, at: 0, roll: 0))
        #expect(other != nil)
        // A flood connection ending frees its place for the same source.
        admission.ended(held.removeLast(), .serverStopped, at: 1)
        #expect(admitted(admission.connection(from: flood, at: 1, roll: 0)) != nil)
    }

    @Test func netBlockSizeGroupsAddressesIntoOneSource() {
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: 2, netBlockSize: NetBlockSize(ipv4: 24, ipv6: 64),
                                                         penalties: nil))
        #expect(admitted(admission.connection(from: IPAddress("192.0.2.1")!, at: 0, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: IPAddress("192.0.2.200")!, at: 0, roll: 0)) != nil)
        #expect(admission.connection(from: IPAddress("192.0.2.77")!, at: 0, roll: 0)
                == .refuse(.perSource(source: SourceBlock(IPAddress("192.0.2.0")!, sizes: NetBlockSize(ipv4: 24, ipv6: 64)),
                                      limit: 2)))
        #expect(admitted(admission.connection(from: IPAddress("192.0.3.1")!, at: 0, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: IPAddress("2001:db8::1")!, at: 0, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: IPAddress("2001:db8::2")!, at: 0, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: IPAddress("2001:db8:0:0:1::3")!, at: 0, roll: 0)) == nil)
        #expect(SourceBlock(IPAddress("192.0.2.77")!, sizes: NetBlockSize(ipv4: 24, ipv6: 64)).description == "192.0.2.0/24")
    }

    @Test func repeatedAuthFailuresPenaliseTheSourceOnceOverMinThenItExpires() {
        // OpenSSH's defaults: authfail 5s, min 15s. Each failing connection adds 5 s.
        var admission = StartupAdmission(settings: .init())
        var now = 100.0
        var penalised: [StartupAdmission.Penalised] = []
        for _ in 0..<3 {
            let startup = admitted(admission.connection(from: flood, at: now, roll: 0))!
            if let penalty = admission.ended(startup, .authFailed, at: now) { penalised.append(penalty) }
            now += 0.1
        }
        // 15 s outstanding is not over min: still admitted.
        #expect(penalised.isEmpty)
        let fourth = admitted(admission.connection(from: flood, at: now, roll: 0))!
        let penalty = admission.ended(fourth, .authFailed, at: now)
        #expect(penalty?.reason == "failed authentication")
        #expect(penalty?.source.description == "127.0.0.2/32")
        #expect(abs((penalty?.seconds ?? 0) - 19.7) < 0.01)
        // Refused at accept, the first refusal of the period marked for the record, not the next.
        guard case .refuse(.penalised(_, let reason, let remaining, true)) = admission.connection(from: flood, at: now + 1, roll: 0) else {
            Issue.record("expected a penalty refusal")
            return
        }
        #expect(reason == "failed authentication")
        #expect(abs(remaining - 18.7) < 0.01)
        guard case .refuse(.penalised(_, _, _, false)) = admission.connection(from: flood, at: now + 2, roll: 0) else {
            Issue.record("expected a second penalty refusal")
            return
        }
        // Another source is untouched.
        #expect(admitted(admission.connection(from: legit, at: now + 2, roll: 0)) != nil)
        // Refusals do not extend it: once the time has run out the source is admitted again.
        #expect(admitted(admission.connection(from: flood, at: now + 19.6, roll: 0)) == nil)
        #expect(admitted(admission.connection(from: flood, at: now + 19.8, roll: 0)) != nil)
        #expect(admission.penalisedSources.ipv4 == 0)
    }

    @Test func penaltiesAccumulateUpToMaxAndEachEndingCountsItsOwn() {
        let settings = PenaltySettings(authFail: 5, noAuth: 1, graceExceeded: 20, max: 30, min: 15)
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: settings))
        // One grace-exceeded connection alone (20 s) is over min: penalised at once.
        let held = admitted(admission.connection(from: flood, at: 0, roll: 0))!
        let penalty = admission.ended(held, .graceExceeded, at: 0)
        #expect(penalty?.reason == "exceeded login_grace_time")
        #expect(penalty?.seconds == 20)
        // Many connections of one source ending without authenticating add up: the one that
        // takes it over min activates the penalty, once.
        var startups: [StartupAdmission.Startup] = []
        var scratch = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: settings))
        for _ in 0..<20 { startups.append(admitted(scratch.connection(from: flood, at: 0, roll: 99))!) }
        var activations = 0
        for startup in startups where scratch.ended(startup, .noAuth, at: 1) != nil { activations += 1 }
        // 16 noauth seconds go over min 15: one activation, one record.
        #expect(activations == 1)
        guard case .refuse(.penalised(_, let reason, let remaining, _)) = scratch.connection(from: flood, at: 1, roll: 0) else {
            Issue.record("expected a penalty refusal")
            return
        }
        #expect(reason == "connections without attempting authentication")
        #expect(remaining == 20)
        // Penalties add up to max and no further.
        for startup in (0..<40).map({ _ in admitted(admission.connection(from: legit, at: 2, roll: 99))! }) {
            admission.ended(startup, .authFailed, at: 2)
        }
        guard case .refuse(.penalised(_, _, let capped, _)) = admission.connection(from: legit, at: 2, roll: 0) else {
            Issue.record("expected a penalty refusal")
            return
        }
        #expect(capped == 30)
    }

    @Test func authenticatedAndServerStoppedConnectionsAreNeverPenalised() {
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: PenaltySettings(min: 0)))
        for _ in 0..<50 {
            let startup = admitted(admission.connection(from: flood, at: 0, roll: 0))!
            admission.authenticated(startup)
            // A late report for a connection that already authenticated changes nothing.
            #expect(admission.ended(startup, .authFailed, at: 0) == nil)
            let other = admitted(admission.connection(from: flood, at: 0, roll: 0))!
            #expect(admission.ended(other, .serverStopped, at: 0) == nil)
        }
        #expect(admitted(admission.connection(from: flood, at: 0, roll: 0)) != nil)
        #expect(admission.unauthenticated == 1)
    }

    @Test func anExemptSourceIsNeverPenalised() {
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil,
                                                         penaltyExempt: [try! IPNetwork.parse("127.0.0.0/30").get()]))
        for _ in 0..<100 {
            let startup = admitted(admission.connection(from: flood, at: 0, roll: 0))!
            #expect(admission.ended(startup, .authFailed, at: 0) == nil)
        }
        #expect(admitted(admission.connection(from: flood, at: 0, roll: 0)) != nil)
        // 127.0.0.4 is outside the exempt block.
        let outside = IPAddress("127.0.0.4")!
        var penalised = false
        for _ in 0..<4 {
            let startup = admitted(admission.connection(from: outside, at: 0, roll: 0))!
            penalised = admission.ended(startup, .authFailed, at: 0) != nil || penalised
        }
        #expect(penalised)
        #expect(admitted(admission.connection(from: outside, at: 0, roll: 0)) == nil)
    }

    @Test func penaltiesOffMeansNoPenaltyEver() {
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: nil))
        for _ in 0..<100 {
            let startup = admitted(admission.connection(from: flood, at: 0, roll: 0))!
            #expect(admission.ended(startup, .graceExceeded, at: 0) == nil)
        }
        #expect(admitted(admission.connection(from: flood, at: 0, roll: 0)) != nil)
    }

    @Test func thePenaltyTableIsBoundedPermissiveEvictsTheSoonestToExpire() {
        // A spoofing flood from 1,000 sources into a table of 100: never more than 100 kept.
        let settings = PenaltySettings(authFail: 600, max: 600, min: 15, maxSources4: 100)
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: settings))
        for index in 0..<1000 {
            let address = IPAddress(bytes: [10, 0, UInt8(index / 256), UInt8(index % 256)])!
            let startup = admitted(admission.connection(from: address, at: Double(index), roll: 0))!
            admission.ended(startup, .authFailed, at: Double(index))
            #expect(admission.penalisedSources.ipv4 <= 100)
        }
        // The newest are kept, the oldest (soonest to expire) made room.
        #expect(admitted(admission.connection(from: IPAddress("10.0.3.231")!, at: 999.5, roll: 0)) == nil)
        #expect(admitted(admission.connection(from: IPAddress("10.0.0.0")!, at: 999.5, roll: 0)) != nil)
        #expect(admission.penalisedSources.ipv4 == 100)
    }

    @Test func thePenaltyTableIsBoundedDenyAllRefusesEveryoneWhileFull() {
        let settings = PenaltySettings(authFail: 20, max: 600, min: 15, maxSources4: 3, overflow: .denyAll)
        let exempt = IPAddress("192.0.2.1")!
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: settings,
                                                         penaltyExempt: [try! IPNetwork.parse("192.0.2.1").get()]))
        for index in 0..<5 {
            let startup = admitted(admission.connection(from: IPAddress("10.0.0.\(index)")!, at: 0, roll: 0))
            if let startup { admission.ended(startup, .authFailed, at: 0) }
        }
        #expect(admission.penalisedSources.ipv4 == 3)
        #expect(admission.connection(from: legit, at: 1, roll: 0) == .refuse(.penaltyTableFull))
        #expect(admitted(admission.connection(from: exempt, at: 1, roll: 0)) != nil)
        // IPv6 has a table of its own.
        #expect(admitted(admission.connection(from: IPAddress("2001:db8::1")!, at: 1, roll: 0)) != nil)
        // Once the penalties expire, everyone is admitted again.
        #expect(admitted(admission.connection(from: legit, at: 21, roll: 0)) != nil)
    }

    @Test func aReloadAppliesNewLimitsToTheNextConnectionAndKeepsWhatIsOpen() {
        var admission = StartupAdmission(settings: .init(perSourceMaxStartups: 2, penalties: PenaltySettings(min: 0)))
        let first = admitted(admission.connection(from: flood, at: 0, roll: 0))!
        _ = admitted(admission.connection(from: flood, at: 0, roll: 0))!
        #expect(admitted(admission.connection(from: flood, at: 0, roll: 0)) == nil)
        admission.ended(first, .authFailed, at: 0)
        #expect(admitted(admission.connection(from: flood, at: 1, roll: 0)) == nil)
        // Penalties off, a higher per-source limit: the source's open connection still counts.
        admission.update(.init(perSourceMaxStartups: 3, penalties: nil))
        #expect(admitted(admission.connection(from: flood, at: 1, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: flood, at: 1, roll: 0)) != nil)
        #expect(admitted(admission.connection(from: flood, at: 1, roll: 0)) == nil)
        #expect(admission.unauthenticated(from: flood) == 3)
        // A smaller table keeps the penalties furthest from expiry.
        var table = StartupAdmission(settings: .init(perSourceMaxStartups: nil, penalties: PenaltySettings(min: 0)))
        for index in 0..<10 {
            let startup = admitted(table.connection(from: IPAddress("10.0.0.\(index)")!, at: Double(index), roll: 0))!
            table.ended(startup, .authFailed, at: Double(index))
        }
        table.update(.init(perSourceMaxStartups: nil, penalties: PenaltySettings(min: 0, maxSources4: 4)))
        #expect(table.penalisedSources.ipv4 == 4)
        #expect(admitted(table.connection(from: IPAddress("10.0.0.9")!, at: 9.5, roll: 0)) == nil)
        #expect(admitted(table.connection(from: IPAddress("10.0.0.5")!, at: 9.5, roll: 0)) != nil)
    }

    @Test func reasonsSayWhatWasExceeded() {
        let block = SourceBlock(flood, sizes: .standard)
        #expect(StartupAdmission.Refusal.perSource(source: block, limit: 5).reason
                == "per_source_max_startups: source 127.0.0.2/32 already holds 5 unauthenticated connections")
        #expect(StartupAdmission.Refusal.maxStartups(count: 100, percent: 100).reason
                == "max_startups: 100 unauthenticated connections open, refusing every new one")
        #expect(StartupAdmission.Refusal.maxStartups(count: 40, percent: 51).reason
                == "max_startups: 40 unauthenticated connections open, refused with probability 51%")
        #expect(StartupAdmission.Refusal.penalised(source: block, reason: "failed authentication", remaining: 12.2,
                                                   firstInPeriod: true).reason
                == "source 127.0.0.2/32 is penalised (failed authentication): refused for another 13s")
    }
}

@Suite struct RefusalReporterTests {
    @Test func oneRecordPerKindPerIntervalCountingTheRestAndSummingUpStragglers() {
        var reporter = RefusalReporter(interval: 10)
        #expect(reporter.refused(kind: "max-startups", at: 0) == 0)
        for second in 1...9 { #expect(reporter.refused(kind: "max-startups", at: Double(second)) == nil) }
        // Another kind has its own interval.
        #expect(reporter.refused(kind: "penalty", at: 5) == 0)
        // A penalised source's first refusal of a period is always recorded, with what it stands for.
        #expect(reporter.refused(kind: "penalty", at: 6) == nil)
        #expect(reporter.refused(kind: "penalty", always: true, at: 7) == 1)
        #expect(reporter.nextDue == 10)
        #expect(reporter.due(at: 9.9).isEmpty)
        let due = reporter.due(at: 10)
        #expect(due.count == 1 && due[0].kind == "max-startups" && due[0].count == 9)
        #expect(reporter.nextDue == nil)
        #expect(reporter.refused(kind: "max-startups", at: 12) == nil)
        #expect(reporter.refused(kind: "max-startups", at: 20) == 1)
        // A flood of 100,000 in 10 s costs one record and one summary.
        var records = 0
        for index in 0..<100_000 where reporter.refused(kind: "per-source-max-startups", at: 30 + Double(index) / 10_001) != nil {
            records += 1
        }
        #expect(records == 1)
        #expect(reporter.due(at: 40).map(\.count) == [99_999])
    }
}
