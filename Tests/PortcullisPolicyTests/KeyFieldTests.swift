import Foundation
@testable import PortcullisPolicy
import Testing

/// The key-entry table: the per-key limit fields, their `limits:` defaults, and `none` in the
/// permit lists, through the loader, `KeySpec` and the authorized_keys translator.
@Suite struct KeyFieldTests {
    @Test func limitFieldsFillTheEntryAndMergeOverTheDefaults() throws {
        let fixture = try Fixture(header + """
        limits: {max_sessions: 4, max_listens: unlimited, max_channels: 0, idle_timeout: 10m}
        keys:
          - name: a
            key: \(alexKey)
            max_sessions: 3
            max_listens: 0
            max_channels: unlimited
            idle_timeout: 5m
          - name: b
            key: \(bobKey)
            idle_timeout: off
            max_sessions: unlimited
          - name: c
            key: \(carolKey)
        """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.limits.keyDefaults == KeyLimits(maxSessions: 4, maxListens: nil, maxChannels: 0, idleTimeout: 600))
        let policy = Policy(config: config)
        let a = try #require(policy.entry(named: "a")), b = try #require(policy.entry(named: "b")), c = try #require(policy.entry(named: "c"))
        #expect(a.limits == KeyLimits(maxSessions: 3, maxListens: 0, maxChannels: KeyLimits.unlimited, idleTimeout: 300))
        #expect(policy.limits(for: a) == KeyLimits(maxSessions: 3, maxListens: 0, maxChannels: nil, idleTimeout: 300))
        // unlimited / off in the entry override a default; nothing in the merged result is the marker.
        #expect(policy.limits(for: b) == KeyLimits(maxSessions: nil, maxListens: nil, maxChannels: 0, idleTimeout: nil))
        #expect(policy.limits(for: c) == config.limits.keyDefaults)
    }

    @Test func limitsDefaultToTheStandardValues() throws {
        let fixture = try Fixture(header)
        defer { fixture.directory.remove() }
        #expect(try fixture.load().limits.keyDefaults == KeyLimits.standard)
    }

    @Test func badLimitValuesNameFileLineAndTheForm() throws {
        let problems = try Fixture(header + """
        limits:
          max_sessions: 0
          max_listens: -1
          max_channels: lots
          idle_timeout: 0
        keys:
          - name: a
            key: \(alexKey)
            max_sessions: 0
            max_listens: "1.5"
            max_channels: 1234567
            idle_timeout: forever
          - name: b
            key: \(bobKey)
            idle_timeout: [5m]
            max_sessions: none
        """).problems()
        #expect(Set(problems) == Set([
            "$DIR/portcullis.yaml:5: limits.max_sessions \"0\": expected a whole number of at least 1, or unlimited",
            "$DIR/portcullis.yaml:6: limits.max_listens \"-1\": expected a whole number (0: none at all) or unlimited",
            "$DIR/portcullis.yaml:7: limits.max_channels \"lots\": expected a whole number (0: none at all) or unlimited",
            "$DIR/portcullis.yaml:8: limits.idle_timeout \"0\": expected a duration like 30s, 5m or 1h, or off",
            "$DIR/portcullis.yaml:12: max_sessions \"0\": expected a whole number of at least 1, or unlimited",
            "$DIR/portcullis.yaml:13: max_listens \"1.5\": expected a whole number (0: none at all) or unlimited",
            "$DIR/portcullis.yaml:14: max_channels \"1234567\": expected a whole number (0: none at all) or unlimited",
            "$DIR/portcullis.yaml:15: idle_timeout \"forever\": expected a duration like 30s, 5m or 1h, or off",
            "$DIR/portcullis.yaml:18: idle_timeout: expected a single value, not a list",
            "$DIR/portcullis.yaml:19: max_sessions \"none\": expected a whole number of at least 1, or unlimited",
        ]))
        #expect(problems.count == 10)
    }

    @Test func noneIsAnExplicitNothingInEachPermitList() throws {
        let fixture = try Fixture(header + """
        keys:
          - name: a
            key: \(alexKey)
            permit_listen: none
            permit_open: [none]
            permit_streamlocal_listen: ["none"]
            permit_streamlocal_open:
              - none
        """)
        defer { fixture.directory.remove() }
        let entry = try #require(try fixture.load().keys.first)
        #expect(entry.permitListen.isEmpty && entry.permitOpen.isEmpty)
        #expect(entry.permitStreamLocalListen.isEmpty && entry.permitStreamLocalOpen.isEmpty)
        #expect(entry.explicitNone.mapValues(\.line) == ["permit_listen": 7, "permit_open": 8,
                                                          "permit_streamlocal_listen": 9, "permit_streamlocal_open": 11])
        let view = try #require(KeyField.named("permit_open")).view(entry, KeyField.Context())
        #expect(view.lines == ["permit_open: none  (\(fixture.main):8)"])
    }

    @Test func noneMixedWithRulesOrElsewhereIsRefused() throws {
        let problems = try Fixture(header + """
        keys:
          - name: a
            key: \(alexKey)
            permit_listen: ["8080", none]
            permit_open: [none, none]
            from: none
            user: none
        """).problems()
        #expect(problems == [
            "$DIR/portcullis.yaml:9: from: expected a list",
            "$DIR/portcullis.yaml:7: permit_listen[1] \"none\": none means no rule at all, so it must be the only entry",
            "$DIR/portcullis.yaml:8: permit_open[0] \"none\": none means no rule at all, so it must be the only entry",
        ])
    }

    @Test func specValidatesEachRowAndWritesWhatTheLoaderReadsBack() throws {
        let line = alexKey
        func refusal(_ values: [String: [String]]) -> String? {
            do { try KeySpec(name: "a", key: line, values: values).validate(socketRoot: "/srv/p"); return nil } catch { return error.message }
        }
        #expect(refusal(["max_sessions": ["0"]]) == "max_sessions \"0\": expected a whole number of at least 1, or unlimited")
        #expect(refusal(["max_listens": ["x"]]) == "max_listens \"x\": expected a whole number (0: none at all) or unlimited")
        #expect(refusal(["max_channels": ["-3"]]) == "max_channels \"-3\": expected a whole number (0: none at all) or unlimited")
        #expect(refusal(["idle_timeout": ["soon"]]) == "idle_timeout \"soon\": expected a duration like 30s, 5m or 1h, or off")
        #expect(refusal(["idle_timeout": ["5m", "6m"]]) == "idle_timeout: given 2 times; it takes one value")
        #expect(refusal(["permit_open": ["none", "h:1"]]) == "permit_open \"none\": none means no rule at all, so it must be the only entry")
        #expect(refusal(["colour": ["red"]]) == "colour: not a key entry field")
        #expect(refusal(["from": ["example.com"]])?.hasPrefix("from \"example.com\": not an IP address") == true)
        #expect(refusal(["max_sessions": ["unlimited"], "max_listens": ["0"], "max_channels": ["12"], "idle_timeout": ["off"],
                         "permit_listen": ["none"]]) == nil)

        let spec = KeySpec(name: "a", key: line, values: [
            "max_sessions": ["2"], "max_listens": ["0"], "max_channels": ["unlimited"], "idle_timeout": ["90s"],
            "permit_listen": ["none"], "permit_open": ["h:1", "h:2"],
        ])
        let yaml = spec.yaml()
        #expect(yaml == """
            name: "a"
            key: "\(line)"
            max_sessions: 2
            max_listens: 0
            max_channels: "unlimited"
            idle_timeout: "90s"
            permit_listen: none
            permit_open:
              - "h:1"
              - "h:2"

            """)
        let fixture = try Fixture(header + "keys_dir: keys.d\n", files: ["keys.d/a.yaml": yaml])
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        let entry = try #require(config.keys.first)
        #expect(entry.limits == KeyLimits(maxSessions: 2, maxListens: 0, maxChannels: KeyLimits.unlimited, idleTimeout: 90))
        #expect(entry.explicitNone["permit_listen"]?.line == 7)
        #expect(entry.permitOpen.map(\.text) == ["h:1", "h:2"])
        let shown = KeyField.all.flatMap { $0.view(entry, KeyField.Context(defaults: config.limits.keyDefaults)).lines }
        #expect(shown.contains("max_sessions: 2"))
        #expect(shown.contains("max_channels: unlimited"))
        #expect(shown.contains("idle_timeout: 90s"))
        #expect(shown.contains("user:        any"))
    }

    @Test func showingALimitSaysWhetherItIsTheDefault() throws {
        var entry = KeyEntry.scratch
        entry.limits.maxListens = 5
        let context = KeyField.Context(defaults: KeyLimits(maxSessions: 10, maxListens: 64, maxChannels: nil, idleTimeout: 3600))
        func shown(_ name: String) throws -> KeyField.View { try #require(KeyField.named(name)).view(entry, context) }
        #expect(try shown("max_listens").lines == ["max_listens: 5"])
        #expect(try shown("max_sessions").lines == ["max_sessions: 10 (default)"])
        #expect(try shown("max_channels").lines == ["max_channels: unlimited (default)"])
        #expect(try shown("idle_timeout").lines == ["idle_timeout: 1h (default)"])
        #expect(try shown("max_channels").json == [.init("max_channels", .object([
            .init("value", .null), .init("text", .string("unlimited")), .init("default", .bool(true))]))])
        #expect(try shown("max_listens").json == [.init("max_listens", .object([
            .init("value", .int(5)), .init("text", .string("5")), .init("default", .bool(false))]))])
    }

    @Test func theTableHasOneRowPerFieldAndAnOptionForEach() {
        let names = KeyField.names
        #expect(Set(names).count == names.count)
        #expect(names == ["user", "from", "expires", "permit_listen", "permit_open", "permit_streamlocal_listen",
                          "permit_streamlocal_open", "permit_name_publish", "permit_name_open", "max_sessions", "max_listens",
                          "max_channels", "idle_timeout"])
        #expect(KeyField.named("max_channels")?.option == "--max-channels")
        #expect(KeyField.all.filter(\.allowsNone).map(\.name) == ["permit_listen", "permit_open", "permit_streamlocal_listen",
                                                                 "permit_streamlocal_open", "permit_name_publish", "permit_name_open"])
    }

    @Test func importReadsOpenSSHNoneAsNone() throws {
        let line = alexKey
        let listen = try AuthorizedKeys.translate("permitlisten=\"none\",permitopen=\"h:1\" \(line)", socketRoot: nil)
        #expect(listen.spec == KeySpec(name: "", key: line, permitListen: ["none"], permitOpen: ["h:1"]))
        let open = try AuthorizedKeys.translate("restrict,port-forwarding,permitopen=\"none\" \(line)", socketRoot: nil)
        #expect(open.spec["permit_open"] == ["none"])
        #expect(open.spec["permit_listen"] == ["*"])
        #expect(open.spec.yaml().contains("\npermit_open: none\n"))
        #expect(throws: PatternError("permitlisten=\"none\" together with other permitlisten options")) {
            try AuthorizedKeys.translate("permitlisten=\"none\",permitlisten=\"8080\" \(line)", socketRoot: nil)
        }
        #expect(throws: PatternError("permitopen=\"none\" together with other permitopen options")) {
            try AuthorizedKeys.translate("permitopen=\"[/run/x.sock]:*\",permitopen=\"none\" \(line)", socketRoot: nil)
        }
    }
}
