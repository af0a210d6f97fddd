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
}
