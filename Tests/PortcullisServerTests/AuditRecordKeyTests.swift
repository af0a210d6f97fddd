import PortcullisAudit
import PortcullisPolicy
@testable import PortcullisServer
import Testing

/// Issue 12: every record of an authenticated session names its key, and a grant's location and
/// pattern reach the record as typed values.
@Suite struct AuditRecordKeyTests {
    private static let alex = PublicKey(algorithm: "ssh-ed25519", base64: "AAAAalex", fingerprint: "SHA256:alex")

    private func key(_ record: (event: String, session: UInt64?, fields: [JSONMember])) -> String? {
        record.fields.first { $0.key == AuditField.key }.map { "\($0.value)" }
    }

    @Test func recordsOfASessionCarryItsKeyFromAuthToSessionEnd() {
        let names = SessionKeyNames()
        let request = ForwardRequest.tcpOpen(host: "db.internal", port: 5432)
        let client = Endpoint(host: "127.0.0.1", port: 5555)
        func fields(_ event: ServerEvent) -> [JSONMember] { event.auditRecord(sessionKeys: names).fields }

        let start = fields(.sessionOpened(session: 7, client: client, server: client))
        #expect(!start.contains { $0.key == AuditField.key })
        let refused = fields(.authRefused(session: 7, user: "alex", key: nil, keyName: nil, reason: "r"))
        #expect(!refused.contains { $0.key == AuditField.key })
        let auth = fields(.authenticated(session: 7, user: "alex", key: Self.alex, keyName: "alex"))
        #expect(auth.filter { $0.key == AuditField.key } == [JSONMember(AuditField.key, .string("alex"))])

        let later: [ServerEvent] = [
            .forwardRequested(session: 7, request: request, decision: .deny(reason: "no"), channel: 1, originator: "o:1"),
            .requestMalformed(session: 7, kind: "tcp-open", target: nil, reason: "bad"),
            .forwardBound(session: 7, request: .tcpListen(host: "localhost", port: 8080), bound: "127.0.0.1:8080"),
            .forwardFailed(session: 7, request: request, reason: "refused", channel: 2),
            .forwardCancelled(session: 7, request: .tcpListen(host: "localhost", port: 8080)),
            .channelOpened(session: 7, channel: 3, request: request, originator: "o:1"),
            .channelClosed(session: 7, channel: 3, request: request, bytesToClient: 1, bytesFromClient: 2, duration: 1, reason: "eof"),
            .sessionClosed(session: 7, reason: "client closed", duration: 1, channels: 1, bytesToClient: 1, bytesFromClient: 2),
        ]
        for event in later {
            let fields = fields(event)
            #expect(fields.first == JSONMember(AuditField.key, .string("alex")), "\(event)")
            #expect(fields.filter { $0.key == AuditField.key }.count == 1)
        }
        // Another session, and this one after its end, know no key.
        #expect(!fields(.forwardCancelled(session: 8, request: request)).contains { $0.key == AuditField.key })
        #expect(!fields(.forwardCancelled(session: 7, request: request)).contains { $0.key == AuditField.key })
        #expect(!fields(.staleSocketRemoved(path: "/x")).contains { $0.key == AuditField.key })
    }

    @Test func aGrantsLocationAndPatternAreTheRecordsRuleAndPattern() {
        // A file name with ":1 " in it was where splitting "FILE:LINE PATTERN" back went wrong.
        let grant = Grant(location: SourceLocation(file: "/etc/odd:1 dir/keys.yaml", line: 12), pattern: "db.internal:5432")
        let event = ServerEvent.forwardRequested(session: 1, request: .tcpOpen(host: "db.internal", port: 5432),
                                                 decision: .allow(rule: grant))
        let fields = event.auditRecord.fields
        #expect(fields.contains(JSONMember(AuditField.rule, .string("/etc/odd:1 dir/keys.yaml:12"))))
        #expect(fields.contains(JSONMember(AuditField.pattern, .string("db.internal:5432"))))
        #expect(grant.description == "/etc/odd:1 dir/keys.yaml:12 db.internal:5432")
    }
}
