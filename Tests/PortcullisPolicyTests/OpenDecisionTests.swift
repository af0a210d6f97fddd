@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// permit_open, OpenSSH permitopen semantics plus ranges and CIDR hosts.
@Suite struct OpenDecisionTests {
    func decide(_ rules: [String], _ host: String, _ port: Int) throws -> Decision {
        let entry = try makeEntry(open: rules)
        return makePolicy([entry]).decide(.tcpOpen(host: host, port: port), key: entry, user: "alex")
    }

    func resolved(_ rules: [String], _ host: String, _ port: Int, _ addresses: [String]) throws -> (Decision, [String]) {
        let entry = try makeEntry(open: rules)
        return makePolicy([entry]).decideOpen(host: host, port: port, resolvedAddresses: addresses, key: entry, user: "alex")
    }

    @Test("localhost:5900 does not permit 127.0.0.1:5900: the host is compared as sent, no DNS")
    func exactHost() throws {
        #expect(try decide(["localhost:5900"], "localhost", 5900) == .allow(rule: .at("rules.yaml", 20, "localhost:5900")))
        #expect(try decide(["localhost:5900"], "127.0.0.1", 5900) ==
            .deny(reason: "no permit_open rule of key alex matches 127.0.0.1:5900"))
        #expect(try !decide(["127.0.0.1:5900"], "localhost", 5900).isAllowed)
        #expect(try decide(["127.0.0.1:5900"], "127.0.0.1", 5900).isAllowed)
        #expect(try !decide(["127.0.0.1:5900"], "127.0.0.1", 5901).isAllowed)
        #expect(try decide(["example.com:443"], "example.com", 443).isAllowed)
        #expect(try !decide(["example.com:443"], "www.example.com", 443).isAllowed)
        #expect(try decide(["[::1]:22"], "::1", 22) == .allow(rule: .at("rules.yaml", 20, "[::1]:22")))
        #expect(try !decide(["[::1]:22"], "0:0::1", 22).isAllowed)
    }

    @Test("the host is compared byte for byte, as OpenSSH does: localhost:P does not let -W LOCALHOST:P through")
    func hostCaseMatters() throws {
        #expect(try decide(["localhost:5900"], "LOCALHOST", 5900) ==
            .deny(reason: "no permit_open rule of key alex matches LOCALHOST:5900"))
        #expect(try !decide(["localhost:5900"], "LocalHost", 5900).isAllowed)
        #expect(try !decide(["Example.COM:443"], "example.com", 443).isAllowed)
        #expect(try decide(["Example.COM:443"], "Example.COM", 443).isAllowed)
        #expect(try !decide(["[fe80::a]:22"], "fe80::A", 22).isAllowed)
        #expect(try resolved(["localhost:5900"], "LOCALHOST", 5900, ["127.0.0.1"]).0.isAllowed == false)
    }

    @Test func wildcards() throws {
        #expect(try decide(["*:22"], "anything.example", 22).isAllowed)
        #expect(try !decide(["*:22"], "anything.example", 23).isAllowed)
        #expect(try decide(["db:*"], "db", 5432).isAllowed)
        #expect(try decide(["*:*"], "x", 1).isAllowed)
        #expect(try decide(["db:5000-5999"], "db", 5432).isAllowed)
        #expect(try !decide(["db:5000-5999"], "db", 6000).isAllowed)
    }

    @Test func cidrRuleWithoutResolutionMatchesOnlyLiteralAddressesInside() throws {
        #expect(try decide(["10.0.0.0/8:443"], "10.1.2.3", 443) == .allow(rule: .at("rules.yaml", 20, "10.0.0.0/8:443")))
        #expect(try !decide(["10.0.0.0/8:443"], "11.1.2.3", 443).isAllowed)
        #expect(try !decide(["10.0.0.0/8:443"], "10.1.2.3", 80).isAllowed)
        #expect(try !decide(["10.0.0.0/8:443"], "internal.example", 443).isAllowed)
        #expect(try !decide(["10.0.0.0/8:443"], "010.1.2.3", 443).isAllowed)
        #expect(try decide(["[fd00::/8]:22"], "fd00::5", 22).isAllowed)
        #expect(try !decide(["[fd00::/8]:22"], "fe80::5", 22).isAllowed)
        #expect(try decide(["10.0.0.0/8:443"], "::ffff:10.0.0.1", 443).isAllowed)
    }

    @Test func exactHostRuleGrantsEveryResolvedAddress() throws {
        let (decision, addresses) = try resolved(["db.internal:5432"], "db.internal", 5432, ["10.0.0.5", "192.0.2.9"])
        #expect(decision == .allow(rule: .at("rules.yaml", 20, "db.internal:5432")))
        #expect(addresses == ["10.0.0.5", "192.0.2.9"])
        #expect(try resolved(["*:5432"], "db.internal", 5432, ["10.0.0.5", "::1"]).1 == ["10.0.0.5", "::1"])
    }

    @Test func cidrRuleGrantsOnlyTheResolvedAddressesInside() throws {
        let rules = ["10.0.0.0/8:443", "[fd00::/8]:443", "192.168.0.0/16:80"]
        let (decision, addresses) = try resolved(rules, "app.internal", 443, ["10.2.3.4", "203.0.113.1", "fd00::7", "192.168.1.1", "::ffff:10.9.9.9"])
        #expect(decision == .allow(rule: .at("rules.yaml", 20, "10.0.0.0/8:443")))
        #expect(addresses == ["10.2.3.4", "fd00::7", "::ffff:10.9.9.9"])
        let onlyV6 = try resolved(rules, "app.internal", 443, ["203.0.113.1", "fd00::7"])
        #expect(onlyV6.0 == .allow(rule: .at("rules.yaml", 21, "[fd00::/8]:443")))
        #expect(onlyV6.1 == ["fd00::7"])
    }

    @Test func resolutionOutsideEveryCidrIsRefused() throws {
        let (decision, addresses) = try resolved(["10.0.0.0/8:443"], "evil.example", 443, ["203.0.113.1", "not-an-address"])
        #expect(decision == .deny(reason: "no permit_open rule of key alex matches evil.example:443 (resolved to 203.0.113.1, not-an-address)"))
        #expect(addresses.isEmpty)
        #expect(try resolved(["10.0.0.0/8:443"], "x", 443, []).0 == .deny(reason: "no permit_open rule of key alex matches x:443"))
    }

    @Test func literalHostWithoutResolutionCountsAsItself() throws {
        let (decision, addresses) = try resolved(["10.0.0.0/8:443"], "10.0.0.1", 443, [])
        #expect(decision.isAllowed)
        #expect(addresses == ["10.0.0.1"])
    }

    @Test func exactHostRuleWinsOverCidrForTheWholeSet() throws {
        let (decision, addresses) = try resolved(["10.0.0.0/8:443", "app:443"], "app", 443, ["10.0.0.1", "203.0.113.1"])
        #expect(decision == .allow(rule: .at("rules.yaml", 21, "app:443")))
        #expect(addresses == ["10.0.0.1", "203.0.113.1"])
    }

    @Test func denials() throws {
        #expect(try decide([], "localhost", 5900) == .deny(reason: "key alex has no permit_open rules"))
        #expect(try resolved([], "localhost", 5900, ["127.0.0.1"]).0 == .deny(reason: "key alex has no permit_open rules"))
        #expect(try decide(["*:*"], "localhost", 0) == .deny(reason: "invalid port 0"))
        #expect(try decide(["*:*"], "localhost", 65536) == .deny(reason: "invalid port 65536"))
        #expect(try resolved(["*:*"], "localhost", 0, []).0 == .deny(reason: "invalid port 0"))
        let listenOnly = try makeEntry(listen: ["*"], streamOpen: ["/**"])
        #expect(makePolicy([listenOnly]).decide(.tcpOpen(host: "h", port: 1), key: listenOnly, user: "alex") ==
            .deny(reason: "key alex has no permit_open rules"))
        var explicitlyNone = listenOnly
        explicitlyNone.explicitNone["permit_open"] = SourceLocation(file: "keys.d/alex.yaml", line: 4)
        #expect(makePolicy([explicitlyNone]).decide(.tcpOpen(host: "h", port: 1), key: explicitlyNone, user: "alex") ==
            .deny(reason: "key alex has permit_open: none (keys.d/alex.yaml:4)"))
    }

    @Test("rule syntax", arguments: [
        ("localhost:5900", nil), ("*:*", nil), ("10.0.0.0/8:443", nil), ("[fd00::/8]:22", nil), ("[::1]:22", nil), ("h:1-2", nil),
        ("127.0.0.1", "expected host:port"), ("5900", "expected host:port"),
        (":5900", "empty host (write *:port for any host)"),
        ("10.0.0.1/8:443", "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/40:443", "bad prefix length /40 (0-32)"),
        ("*.example.com:443", "host globs are not supported in permit_open; use * for any host or a CIDR block"),
        ("10.0.0.?:443", "host globs are not supported in permit_open; use * for any host or a CIDR block"),
        ("fd00::/8:22", "expected host:port (write an IPv6 host in brackets: [::1]:port)"),
        ("localhost/5900", "expected host:port (OpenSSH's host/port form is not accepted: write host:port)"),
        ("localhost:+5900", "bad port \"+5900\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("host:0", "bad port \"0\" (expected 1-65535, *, or a range like 8000-8099)"),
    ] as [(String, String?)])
    func ruleSyntax(text: String, error: String?) {
        if let error {
            #expect(throws: PatternError(error)) { try OpenRule(text, location: at(1)) }
        } else {
            #expect(throws: Never.self) { try OpenRule(text, location: at(1)) }
        }
    }
}
