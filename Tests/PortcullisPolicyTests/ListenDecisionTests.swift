@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// permit_listen, OpenSSH permitlisten semantics (protocol.md) plus ranges and privileged ports.
@Suite struct ListenDecisionTests {
    func decide(_ rules: [String], _ host: String, _ port: Int, privileged: Bool = false) throws -> Decision {
        let entry = try makeEntry(listen: rules)
        return makePolicy([entry], allowPrivilegedPorts: privileged).decide(.tcpListen(host: host, port: port), key: entry, user: "alex")
    }

    @Test func grantNamesFileLineAndPattern() throws {
        #expect(try decide(["localhost:8080"], "localhost", 8080) == .allow(rule: .at("rules.yaml", 10, "localhost:8080")))
        #expect(try decide(["9090", "localhost:8080"], "localhost", 8080) == .allow(rule: .at("rules.yaml", 11, "localhost:8080")))
    }

    @Test("-R 8080 sends localhost: localhost:8080 permits it, 127.0.0.1:8080 does not")
    func localhostIsNotLoopbackAddress() throws {
        #expect(try decide(["localhost:8080"], "localhost", 8080).isAllowed)
        #expect(try !decide(["localhost:8080"], "127.0.0.1", 8080).isAllowed)
        #expect(try !decide(["127.0.0.*:8080"], "localhost", 8080).isAllowed)
        #expect(try decide(["127.0.0.*:8080"], "127.0.0.1", 8080).isAllowed)
        #expect(try decide(["127.0.0.?:8080"], "127.0.0.9", 8080).isAllowed)
        #expect(try !decide(["127.0.0.?:8080"], "127.0.0.10", 8080).isAllowed)
    }

    @Test("-R *:8080 and -R :8080 send an empty host")
    func emptyRequestedHost() throws {
        #expect(try decide(["*:8080"], "", 8080).isAllowed)
        #expect(try decide(["8080"], "", 8080).isAllowed)
        #expect(try !decide(["localhost:8080"], "", 8080).isAllowed)
    }

    @Test("the requested host is compared in lower case, as OpenSSH lowercases it")
    func requestedHostIsLowercased() throws {
        #expect(try decide(["localhost:8080"], "LOCALHOST", 8080).isAllowed)
        #expect(try decide(["*.example.com:8080"], "a.example.COM", 8080).isAllowed)
    }

    @Test("an empty-host rule (:8080) grants only the empty host that ssh -R :8080 and -R '*:8080' send")
    func emptyHostRule() throws {
        #expect(try decide([":8080"], "", 8080) == .allow(rule: .at("rules.yaml", 10, ":8080")))
        for host in ["localhost", "127.0.0.1", "0.0.0.0", "*", "::"] {
            #expect(try !decide([":8080"], host, 8080).isAllowed)
        }
        #expect(try !decide([":8080"], "", 8081).isAllowed)
        #expect(try !decide([":8080"], "", 0).isAllowed)
        #expect(try decide([":*"], "", 0).isAllowed)
    }

    @Test func barePortMeansAnyHost() throws {
        for host in ["localhost", "127.0.0.1", "0.0.0.0", "::1", "", "example.com"] {
            #expect(try decide(["8080"], host, 8080) == .allow(rule: .at("rules.yaml", 10, "8080")))
        }
        #expect(try !decide(["8080"], "localhost", 8081).isAllowed)
    }

    @Test func ipv6HostInBrackets() throws {
        #expect(try decide(["[::1]:8080"], "::1", 8080) == .allow(rule: .at("rules.yaml", 10, "[::1]:8080")))
        #expect(try !decide(["[::1]:8080"], "127.0.0.1", 8080).isAllowed)
    }

    @Test func starPortMatchesEveryPortIncludingDynamic() throws {
        #expect(try decide(["localhost:*"], "localhost", 1024).isAllowed)
        #expect(try decide(["localhost:*"], "localhost", 65535).isAllowed)
        #expect(try decide(["localhost:*"], "localhost", 0).isAllowed)
        #expect(try decide(["*"], "anything", 0).isAllowed)
    }

    @Test("port 0 is matched only by * or a range")
    func dynamicPort() throws {
        let refused = try decide(["localhost:8080"], "localhost", 0)
        #expect(refused == .deny(reason: "no permit_listen rule of key alex matches localhost:0 (a dynamic port needs a * or range rule)"))
        #expect(try decide(["localhost:8000-8099"], "localhost", 0) == .allow(rule: .at("rules.yaml", 10, "localhost:8000-8099")))
        #expect(try !decide(["other:*"], "localhost", 0).isAllowed)
    }

    @Test func portRanges() throws {
        let rules = ["localhost:8000-8099"]
        #expect(try decide(rules, "localhost", 8000).isAllowed)
        #expect(try decide(rules, "localhost", 8099).isAllowed)
        #expect(try !decide(rules, "localhost", 7999).isAllowed)
        #expect(try !decide(rules, "localhost", 8100).isAllowed)
    }

    @Test func privilegedPortsNeedAllowPrivilegedPorts() throws {
        let reason = "port 80 is privileged (below 1024) and allow_privileged_ports is off"
        #expect(try decide(["localhost:80"], "localhost", 80) == .deny(reason: reason))
        #expect(try decide(["*"], "localhost", 80) == .deny(reason: reason))
        #expect(try decide(["localhost:80"], "localhost", 80, privileged: true).isAllowed)
        #expect(try decide(["localhost:1023"], "localhost", 1023) ==
            .deny(reason: "port 1023 is privileged (below 1024) and allow_privileged_ports is off"))
        #expect(try decide(["localhost:1024"], "localhost", 1024).isAllowed)
        // Even with a rule for it, when the key is denied for other reasons the privileged reason comes first.
        #expect(try decide([], "localhost", 22).reason == "port 22 is privileged (below 1024) and allow_privileged_ports is off")
    }

    @Test func denials() throws {
        #expect(try decide([], "localhost", 8080) == .deny(reason: "key alex has no permit_listen rules"))
        #expect(try decide(["localhost:9090"], "localhost", 8080) ==
            .deny(reason: "no permit_listen rule of key alex matches localhost:8080"))
        #expect(try decide(["*"], "localhost", 70000) == .deny(reason: "invalid port 70000"))
        #expect(try decide(["*"], "localhost", -1) == .deny(reason: "invalid port -1"))
        #expect(try decide(["[::1]:9"], "::1", 8080, privileged: true).reason == "no permit_listen rule of key alex matches [::1]:8080")
    }

    @Test func otherKindsDoNotGrantListen() throws {
        let entry = try makeEntry(open: ["*:*"], streamListen: ["/srv/portcullis/**"], streamOpen: ["/**"])
        #expect(makePolicy([entry]).decide(.tcpListen(host: "localhost", port: 8080), key: entry, user: "alex") ==
            .deny(reason: "key alex has no permit_listen rules"))
    }

    @Test func dynamicPortRanges() throws {
        func ranges(_ rules: [String], _ host: String = "localhost", privileged: Bool = false) throws -> [ClosedRange<Int>] {
            let entry = try makeEntry(listen: rules)
            return makePolicy([entry], allowPrivilegedPorts: privileged).dynamicPortRanges(host: host, key: entry, user: "alex")
        }
        #expect(try ranges(["localhost:*"]) == [1024...65535])
        #expect(try ranges(["localhost:*"], privileged: true) == [1024...65535])
        #expect(try ranges(["localhost:8000-8099"]) == [8000...8099])
        #expect(try ranges(["localhost:9000-9009", "localhost:8000-8099", "localhost:8050-8100"]) == [8000...8100, 9000...9009])
        #expect(try ranges(["localhost:8000-8099", "localhost:8100-8199"]) == [8000...8199])
        #expect(try ranges(["localhost:8080"]) == [])
        #expect(try ranges(["other:*"]) == [])
        #expect(try ranges(["8000-8001"], "") == [8000...8001])
        // Privileged parts of a range are clipped off unless allowed.
        #expect(try ranges(["localhost:1000-1100"]) == [1024...1100])
        #expect(try ranges(["localhost:1000-1100"], privileged: true) == [1000...1100])
        #expect(try ranges(["localhost:100-200"]) == [])
        // ...and such a rule then grants no dynamic listen either.
        #expect(try !decide(["localhost:100-200"], "localhost", 0).isAllowed)
        #expect(try decide(["localhost:100-200"], "localhost", 0, privileged: true).isAllowed)
    }

    @Test("rule syntax", arguments: [
        ("8080", nil), ("*", nil), ("localhost:8080", nil), ("*:*", nil), ("[::1]:22", nil), ("[fe80::1]:8000-8100", nil),
        ("localhost", "bad port \"localhost\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("localhost:", "bad port \"\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("localhost:0", "bad port \"0\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("localhost:65536", "bad port \"65536\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("localhost:+80", "bad port \"+80\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("localhost:9000-8000", "empty port range 9000-8000"),
        ("localhost:80-", "bad port \"\" (expected 1-65535, *, or a range like 8000-8099)"),
        (":8080", nil), (":*", nil), ("*:8080", nil),
        ("LocalHost:8080", "upper-case letters in host \"LocalHost\" (requests are compared in lower case, so this would never match: write \"localhost\")"),
        ("localhost/8080", "expected port or host:port (OpenSSH's host/port form is not accepted: write host:port)"),
        ("+8080", "bad port \"+8080\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("http", "bad port \"http\" (expected 1-65535, *, or a range like 8000-8099)"),
        ("::1:8080", "expected port or host:port (write an IPv6 host in brackets: [::1]:port)"),
        ("[::1]8080", "expected port or host:port"),
        ("[::1", "expected port or host:port"),
    ] as [(String, String?)])
    func ruleSyntax(text: String, error: String?) {
        if let error {
            #expect(throws: PatternError(error)) { try ListenRule(text, location: at(1)) }
        } else {
            #expect(throws: Never.self) { try ListenRule(text, location: at(1)) }
        }
    }

    @Test func singlePortRangeCollapses() throws {
        #expect(try ListenRule("localhost:80-80", location: at(1)).port == .single(80))
        #expect(try ListenRule("[::1]:22", location: at(1)).host == "::1")
        #expect(try ListenRule("22", location: at(1)).host == nil)
    }
}
