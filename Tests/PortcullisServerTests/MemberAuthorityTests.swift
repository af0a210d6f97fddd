import Foundation
import PortcullisPolicy
@testable import PortcullisServer
import Testing

/// The member door: a current member's host key, as its own proxy id, gets open-only rules;
/// nothing else passes it, and it never lets a member key through the key policy.
@Suite struct MemberAuthorityTests {
    struct Directory: PeerDirectory {
        let members: [PeerMember]
        func socketClaim(_ relativePath: String) throws -> SocketClaim? { nil }
        func member(_ proxyID: String) throws -> PeerMember? { members.first { $0.proxyID == proxyID } }
        func currentMembers() -> [PeerMember] { members }
    }

    /// Admits every key as "client", so that what reaches it is visible.
    struct Inner: SessionAuthority {
        struct Rules: SessionRules {
            var keyName: String { "client" }
            func decide(_ request: ForwardRequest) -> Decision { .deny(reason: "client rules") }
        }
        func admit(user: String, key: PublicKey, client: Endpoint) -> Admission { .admitted(Rules()) }
    }

    static func key(_ byte: UInt8) -> PublicKey {
        PublicKey(algorithm: "ssh-ed25519", base64: Data(repeating: byte, count: 51).base64EncodedString(),
                  fingerprint: "SHA256:\(byte)")
    }

    let authority = MemberAuthority(
        inner: Inner(),
        directory: Directory(members: [
            PeerMember(proxyID: "a", advertise: "127.0.0.1:2201", hostKey: key(1)),
            PeerMember(proxyID: "b", advertise: "127.0.0.1:2202", hostKey: key(2)),
        ]),
        proxyID: "a")
    let client = Endpoint(host: "127.0.0.1", port: 40000)

    @Test func aMembersHostKeyAsItsOwnIDGetsMemberRules() throws {
        guard case .admitted(let rules) = authority.admit(user: "b", key: Self.key(2), client: client) else {
            Issue.record("member b refused")
            return
        }
        let member = try #require(rules as? MemberRules)
        #expect(member.member == "b" && member.keyName == "member:b")
    }

    @Test func aMembersHostKeyUnderAnotherNameIsRefusedNotPassedOn() {
        for user in ["c", "alex", "a"] {
            guard case .refused(let reason, _) = authority.admit(user: user, key: Self.key(2), client: client) else {
                Issue.record("b's host key as \(user) was admitted")
                continue
            }
            #expect(reason.contains("may only log in as b"))
        }
    }

    @Test func thisProxysOwnKeyIsNoMemberLink() {
        guard case .refused(let reason, _) = authority.admit(user: "a", key: Self.key(1), client: client) else {
            Issue.record("a link from this proxy itself was admitted")
            return
        }
        #expect(reason.contains("opens no member link to itself"))
    }

    @Test func anyOtherKeyIsTheKeyPolicys() {
        guard case .admitted(let rules) = authority.admit(user: "b", key: Self.key(9), client: client) else {
            Issue.record("not passed on")
            return
        }
        #expect(rules.keyName == "client")
    }

    @Test func memberRulesOnlyOpenSockets() {
        let rules = MemberRules(member: "b")
        #expect(rules.decide(.streamLocalOpen(path: "/srv/tunnels/alex/web.sock")).isAllowed)
        for request in [ForwardRequest.streamLocalListen(path: "/srv/tunnels/alex/x.sock"),
                        .tcpListen(host: "127.0.0.1", port: 8080), .tcpOpen(host: "127.0.0.1", port: 22),
                        .namePublish(name: "alex-ssh", port: 22)] {
            #expect(rules.decide(request) == .deny(reason: "a member link may only open sockets and names this proxy serves"))
        }
        // Whether this proxy publishes the name is checked where it is delivered.
        #expect(rules.decide(.nameOpen(name: "alex-ssh", port: 22)).isAllowed)
        #expect(rules.dynamicPortRanges(host: "127.0.0.1").isEmpty)
    }

    @Test func advertiseAddressesAndOpenFailuresAreRead() {
        #expect(PeerLink.split("127.0.0.1:2201")! == ("127.0.0.1", 2201))
        #expect(PeerLink.split("[::1]:22")! == ("::1", 22))
        #expect(PeerLink.split("host") == nil && PeerLink.split(":22") == nil && PeerLink.split("h:0") == nil)
        #expect(PeerLink.openFailure("Channel opening failure: channel 43 error (1) alex/x.sock is not served by proxy a")
                == "alex/x.sock is not served by proxy a")
        #expect(PeerLink.hostKeyAlgorithms("ssh-rsa") == "rsa-sha2-512,rsa-sha2-256")
    }

    /// A member view that can change, as the daemon's etcd view does.
    final class ChangingDirectory: PeerDirectory, @unchecked Sendable {
        let lock = NSLock()
        var members: [PeerMember]
        var count: UInt64 = 0
        init(_ members: [PeerMember]) { self.members = members }
        func socketClaim(_ relativePath: String) throws -> SocketClaim? { nil }
        func member(_ proxyID: String) throws -> PeerMember? { currentMembers().first { $0.proxyID == proxyID } }
        func currentMembers() -> [PeerMember] { lock.withLock { members } }
        var membersGeneration: UInt64 { lock.withLock { count } }
        func remove(_ proxyID: String) { lock.withLock { members.removeAll { $0.proxyID == proxyID }; count += 1 } }
    }

    /// Red team: a member whose record went is no longer admitted, and the authority's generation
    /// moves with the member view, so that its live link is admitted again (and ended).
    @Test func aRemovedMemberIsNoLongerAdmittedAndTheGenerationMoves() {
        let directory = ChangingDirectory([
            PeerMember(proxyID: "a", advertise: "127.0.0.1:2201", hostKey: Self.key(1)),
            PeerMember(proxyID: "m", advertise: "127.0.0.1:2203", hostKey: Self.key(3)),
        ])
        let authority = MemberAuthority(inner: Refusing(), directory: directory, proxyID: "a")
        guard case .admitted = authority.admit(user: "m", key: Self.key(3), client: client) else {
            Issue.record("member m refused")
            return
        }
        let before = authority.generation
        directory.remove("m")
        #expect(authority.generation != before)
        guard case .refused = authority.admit(user: "m", key: Self.key(3), client: client) else {
            Issue.record("a removed member was admitted")
            return
        }
    }

    /// Refuses every key (the key policy for a key that is in no keys/* entry).
    struct Refusing: SessionAuthority {
        func admit(user: String, key: PublicKey, client: Endpoint) -> Admission { .refused(reason: "unknown key") }
    }
}
