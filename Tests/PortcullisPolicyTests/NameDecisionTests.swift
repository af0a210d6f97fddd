import Foundation
@testable import PortcullisPolicy
import Testing

/// Names (`ssh -R NAME:PORT:...`, `ssh -J proxy NAME`): what a name is, which hosts are taken as
/// names, the permit_name_publish / permit_name_open rules and how they are loaded and shown.
@Suite struct NameDecisionTests {
    func entry(publish: [String] = [], open: [String] = [], name: String = "alex") throws -> KeyEntry {
        var entry = try makeEntry(name: name)
        entry.permitNamePublish = try publish.enumerated().map { try NameRule($1, location: at(50 + $0)) }
        entry.permitNameOpen = try open.enumerated().map { try NameRule($1, location: at(60 + $0)) }
        return entry
    }

    func decide(_ request: ForwardRequest, _ entry: KeyEntry) -> Decision {
        makePolicy([entry]).decide(request, key: entry, user: "alex")
    }

    @Test("a name is one lower-case DNS label with a letter, never localhost")
    func nameSyntax() {
        for good in ["alex-ssh", "a", "db1", "1db", "x-1-y", String(repeating: "a", count: 63)] {
            #expect(ServiceName.problem(good) == nil, "\(good)")
        }
        #expect(ServiceName.problem("") == "a name is not empty")
        #expect(ServiceName.problem(String(repeating: "a", count: 64)) == "a name is at most 63 bytes long (one DNS label); this one is 64")
        #expect(ServiceName.problem("Alex-ssh") == "upper-case letters in name \"Alex-ssh\" (names are lower case: write \"alex-ssh\")")
        #expect(ServiceName.problem("alex_ssh") == "a name has only a-z, 0-9 and \"-\" (one DNS label)")
        #expect(ServiceName.problem("alex\u{0}ssh") == "a name has only a-z, 0-9 and \"-\" (one DNS label)")
        #expect(ServiceName.problem("ålex") == "a name has only a-z, 0-9 and \"-\" (one DNS label)")
        #expect(ServiceName.problem("-alex") == "a name does not start or end with \"-\"")
        #expect(ServiceName.problem("alex-") == "a name does not start or end with \"-\"")
        #expect(ServiceName.problem("1234") == "a name has at least one letter (all digits would read as an address)")
        #expect(ServiceName.problem("localhost") == "localhost is never a name")
    }

    @Test("hosts with a dot or colon, the empty host, * and localhost keep their address meaning")
    func whichHostsAreNames() {
        for name in ["alex-ssh", "Alex", "db", "1234", "alex_ssh", "LOCALHOSTS"] {
            #expect(ServiceName.isNameRequest(name), "\(name)")
        }
        for address in ["", "*", "localhost", "LocalHost", "127.0.0.1", "::1", "example.org", "alex-ssh.", "fe80::1%eth0"] {
            #expect(!ServiceName.isNameRequest(address), "\(address)")
        }
    }

    @Test("deny by default: no rules, or the explicit none, refuse a publish and an open")
    func denyByDefault() throws {
        let bare = try entry()
        #expect(decide(.namePublish(name: "alex-ssh", port: 22), bare) == .deny(reason: "key alex has no permit_name_publish rules"))
        #expect(decide(.nameOpen(name: "alex-ssh", port: 22), bare) == .deny(reason: "key alex has no permit_name_open rules"))
        var none = bare
        none.explicitNone["permit_name_open"] = at(60)
        #expect(decide(.nameOpen(name: "alex-ssh", port: 22), none) == .deny(reason: "key alex has permit_name_open: none (rules.yaml:60)"))
    }

    @Test("a rule is a glob over the name; %k is the key's name")
    func rulesMatchNames() throws {
        let key = try entry(publish: ["%k-*", "shared-?"], open: ["alex-ssh", "db*"])
        #expect(decide(.namePublish(name: "alex-ssh", port: 22), key) == .allow(rule: .at("rules.yaml", 50, "%k-*")))
        #expect(decide(.namePublish(name: "shared-1", port: 80), key) == .allow(rule: .at("rules.yaml", 51, "shared-?")))
        #expect(decide(.namePublish(name: "blake-ssh", port: 22), key) ==
            .deny(reason: "no permit_name_publish rule of key alex matches blake-ssh"))
        #expect(decide(.namePublish(name: "shared-12", port: 22), key).isAllowed == false)
        #expect(decide(.nameOpen(name: "alex-ssh", port: 22), key) == .allow(rule: .at("rules.yaml", 60, "alex-ssh")))
        #expect(decide(.nameOpen(name: "db7", port: 5432), key).isAllowed)
        #expect(decide(.nameOpen(name: "alex-web", port: 80), key) == .deny(reason: "no permit_name_open rule of key alex matches alex-web"))
        // The publish rules never grant an open, nor the open rules a publish.
        #expect(decide(.nameOpen(name: "shared-1", port: 80), key).isAllowed == false)
        #expect(decide(.namePublish(name: "db7", port: 5432), key).isAllowed == false)
    }

    @Test("an invalid name or port is refused with the reason, even under a * rule")
    func invalidRequests() throws {
        let key = try entry(publish: ["*"], open: ["*"])
        #expect(decide(.namePublish(name: "Alex-ssh", port: 22), key) ==
            .deny(reason: "name \"Alex-ssh\": upper-case letters in name \"Alex-ssh\" (names are lower case: write \"alex-ssh\")"))
        #expect(decide(.namePublish(name: "alex-ssh", port: 0), key) == .deny(reason: "a name is published on a fixed port, not 0"))
        #expect(decide(.nameOpen(name: "alex-ssh", port: 0), key) == .deny(reason: "invalid port 0"))
        #expect(decide(.nameOpen(name: "bad\u{1}name", port: 22), key) ==
            .deny(reason: "name \"bad\\x01name\": a name has only a-z, 0-9 and \"-\" (one DNS label)"))
        #expect(decide(.nameOpen(name: "localhost", port: 22), key).isAllowed == false)
        #expect(decide(.namePublish(name: "alex-ssh", port: 22), key).isAllowed)
    }

    @Test("rule syntax: only what a name can hold, %k, * and ?")
    func ruleSyntax() {
        func problem(_ text: String) -> String? {
            do { _ = try NameRule(text, location: at(1)); return nil } catch { return error.message }
        }
        #expect(problem("alex-*") == nil)
        #expect(problem("%k-ssh") == nil)
        #expect(problem("?") == nil)
        #expect(problem("") == "expected a name pattern (a-z, 0-9, -, * and ?, %k for the key's name)")
        #expect(problem("alex.ssh") == "expected a name pattern (a-z, 0-9, -, * and ?, %k for the key's name)")
        #expect(problem("Alex-*") == "upper-case letters (names are lower case, so this would never match: write \"alex-*\")")
        #expect(problem("%u-ssh") == "only %k (the key's name) may follow %")
        #expect(problem("%%") == "only %k (the key's name) may follow %")
    }

    @Test func requestKindsAndTargets() {
        #expect(ForwardRequest.namePublish(name: "alex-ssh", port: 22).description == "name-publish alex-ssh:22")
        #expect(ForwardRequest.nameOpen(name: "alex-ssh", port: 22).description == "name-open alex-ssh:22")
    }

    @Test("the loader reads both lists and names_may_shadow_hosts, and names a bad rule with file:line")
    func loaded() throws {
        let fixture = try Fixture(header + """
        names_may_shadow_hosts: true
        keys:
          - name: alex
            key: \(alexKey)
            permit_name_publish: ["%k-*"]
            permit_name_open: none
        """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.namesMayShadowHosts)
        let alex = try #require(config.keys.first)
        #expect(alex.permitNamePublish.map(\.text) == ["%k-*"])
        #expect(alex.explicitNone["permit_name_open"]?.line == 9)
        let context = KeyField.Context()
        #expect(try #require(KeyField.named("permit_name_publish")).view(alex, context).lines
            == ["permit_name_publish:", "  %k-*  (\(fixture.main):8)"])
        #expect(try #require(KeyField.named("permit_name_open")).view(alex, context).lines
            == ["permit_name_open: none  (\(fixture.main):9)"])

        #expect(try Fixture(header).load().namesMayShadowHosts == false)
        let problems = try Fixture(header + """
        names_may_shadow_hosts: maybe
        keys:
          - name: alex
            key: \(alexKey)
            permit_name_publish: ["Alex-ssh", "ok"]
            permit_name_open: "x.y"
        """).problems()
        #expect(problems.contains("$DIR/portcullis.yaml:4: names_may_shadow_hosts \"maybe\": expected true or false"))
        #expect(problems.contains { $0.hasPrefix("$DIR/portcullis.yaml:8: permit_name_publish[0] \"Alex-ssh\": upper-case letters") })
        #expect(problems.contains { $0.hasPrefix("$DIR/portcullis.yaml:9: permit_name_open") })
    }

    @Test("policyctl's KeySpec validates the name rules and writes what the loader reads back")
    func keySpec() throws {
        func refusal(_ values: [String: [String]]) -> String? {
            do { try KeySpec(name: "a", key: alexKey, values: values).validate(socketRoot: nil); return nil } catch { return error.message }
        }
        #expect(refusal(["permit_name_open": ["a.b"]]) ==
            "permit_name_open \"a.b\": expected a name pattern (a-z, 0-9, -, * and ?, %k for the key's name)")
        #expect(refusal(["permit_name_publish": ["%k-*"], "permit_name_open": ["none"]]) == nil)
        let yaml = KeySpec(name: "a", key: alexKey, values: ["permit_name_publish": ["%k-*"], "permit_name_open": ["none"]]).yaml()
        #expect(yaml.contains("permit_name_publish:\n  - \"%k-*\"\n"))
        #expect(yaml.contains("permit_name_open: none\n"))
    }
}
