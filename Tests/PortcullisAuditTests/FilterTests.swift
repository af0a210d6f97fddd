import Foundation
import PortcullisAudit
import Testing

@Suite struct FilterTests {
    let records: [AuditRecord] = {
        func record(_ seq: UInt64, _ ts: String, _ event: String, _ session: UInt64?, _ fields: [JSONMember]) -> AuditRecord {
            AuditRecord(ts: ts, seq: seq, event: event, session: session, fields: fields, prev: AuditChain.genesis)
        }
        return [
            record(1, "2026-11-25T10:00:00.000000Z", "daemon_started", nil, [JSONMember("version", "0.1")]),
            record(2, "2026-11-25T10:00:01.000000Z", "session_opened", 1, [JSONMember("client", "192.0.2.10")]),
            record(3, "2026-11-25T10:00:02.000000Z", "authenticated", 1,
                   [JSONMember("user", "alex"), JSONMember("key", "alex"), JSONMember("fingerprint", "SHA256:aaa")]),
            record(4, "2026-11-25T10:00:03.000000Z", "forward_requested", 1,
                   [JSONMember("kind", "streamlocal-listen"), JSONMember("target", "/s/alex/web.sock"), JSONMember("decision", "allow")]),
            record(5, "2026-11-25T11:00:00.000000Z", "session_opened", 2, [JSONMember("client", "2001:db8::5")]),
            record(6, "2026-11-25T11:00:01.000000Z", "authenticated", 2,
                   [JSONMember("user", "blake"), JSONMember("key", "blake"), JSONMember("fingerprint", "SHA256:bbb")]),
            record(7, "2026-11-25T11:00:02.000000Z", "forward_requested", 2,
                   [JSONMember("kind", "tcp-open"), JSONMember("target", "10.0.0.1:22"), JSONMember("decision", "deny")]),
            record(8, "2026-11-25T11:00:03.000000Z", "session_closed", 2, [JSONMember("reason", "client disconnected")]),
            record(9, "2026-11-25T12:00:00.000000Z", "forward_cancelled", 1,
                   [JSONMember("kind", "streamlocal-listen"), JSONMember("target", "/s/alex/web.sock")]),
        ]
    }()

    /// The seqs of the records `filter` passes, with session identities tracked as a review would.
    func matching(_ filter: AuditFilter) -> [UInt64] {
        var tracker = AuditSessionTracker(endEvent: "session_closed")
        return records.filter { filter.matches($0, identity: tracker.observe($0)) }.map(\.seq)
    }

    func filter(_ set: (inout AuditFilter) -> Void) -> AuditFilter {
        var filter = AuditFilter()
        set(&filter)
        return filter
    }

    @Test func emptyFilterPassesEverything() {
        #expect(matching(AuditFilter()) == Array(1...9))
    }

    @Test func identityFiltersFollowTheSession() {
        #expect(matching(filter { $0.key = "alex" }) == [3, 4, 9])
        #expect(matching(filter { $0.user = "blake" }) == [6, 7, 8])
        #expect(matching(filter { $0.fingerprint = "SHA256:aaa" }) == [3, 4, 9])
        #expect(matching(filter { $0.client = { $0.hasPrefix("2001:db8:") } }) == [5, 6, 7, 8])
    }

    @Test func requestFilters() {
        #expect(matching(filter { $0.decision = .deny }) == [7])
        #expect(matching(filter { $0.decision = .allow; $0.key = "alex" }) == [4])
        #expect(matching(filter { $0.kind = "streamlocal-listen" }) == [4, 9])
        #expect(matching(filter { $0.target = { $0.hasSuffix(".sock") } }) == [4, 9])
        #expect(matching(filter { $0.event = "session_opened" }) == [2, 5])
        #expect(matching(filter { $0.session = 2 }) == [5, 6, 7, 8])
    }

    @Test func timeRangeIsSinceInclusiveUntilExclusive() {
        let since = AuditTimestamp.date(from: "2026-11-25T11:00:00.000000Z")
        let until = AuditTimestamp.date(from: "2026-11-25T12:00:00.000000Z")
        #expect(matching(filter { $0.since = since }) == [5, 6, 7, 8, 9])
        #expect(matching(filter { $0.since = since; $0.until = until }) == [5, 6, 7, 8])
    }

    @Test func trackerForgetsEndedSessions() {
        var tracker = AuditSessionTracker(endEvent: "session_closed")
        for record in records { _ = tracker.observe(record) }
        #expect(tracker.openSessions == [1])
    }
}
