import Foundation
import Testing
import PortcullisTestSupport

/// The key-entry table through the built policyctl: add-key's field options, the file it writes,
/// show-key / list-keys showing each key's limits, `none`, and the import of OpenSSH's "none".
@Suite struct KeyFieldCommandTests {
    @Test func addKeyWritesTheNewFieldsAndShowKeyShowsThemBack() throws {
        let site = try Installation()
        let added = try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"), "--max-sessions", "2",
                                        "--max-listens=0", "--max-channels", "unlimited", "--idle-timeout", "30m",
                                        "--permit-open", "none", "--permit-listen", "8080"])
        #expect(added.status == 0, "\(added.stderr)")
        let file = try String(contentsOfFile: "\(site.keysDir)/alex.yaml", encoding: .utf8)
        #expect(file.contains("\nmax_sessions: 2\nmax_listens: 0\nmax_channels: \"unlimited\"\nidle_timeout: \"30m\"\npermit_listen:\n  - \"8080\"\npermit_open: none\n"),
                "\(file)")
        let show = try site.policyctl(["show-key", "alex"])
        #expect(show.status == 0)
        for line in ["max_sessions: 2", "max_listens: 0", "max_channels: unlimited", "idle_timeout: 30m",
                     "permit_open: none  (\(site.keysDir)/alex.yaml:11)", "  8080  (\(site.keysDir)/alex.yaml:10)"] {
            #expect(show.stdout.split(separator: "\n").contains(Substring(line)), "\(line) in\n\(show.stdout)")
        }
        #expect(try site.policyctl(["check", "--key", "alex", "open", "localhost:22"]).status == 1)
        #expect(try site.policyctl(["check", "--key", "alex", "listen", "8080"]).status == 0)

        // A key that sets no limit shows the defaults of limits:, as defaults.
        #expect(try site.policyctl(["add-key", "--name", "blake", "--key", site.newKey("blake")]).status == 0)
        let defaults = try site.policyctl(["show-key", "blake"]).stdout
        for line in ["max_sessions: 10 (default)", "max_listens: 64 (default)", "max_channels: 256 (default)",
                     "idle_timeout: off (default)", "permit_open: none (refused)"] {
            #expect(defaults.split(separator: "\n").contains(Substring(line)), "\(line) in\n\(defaults)")
        }
        let json = try site.policyctl(["list-keys", "--json"])
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let alex = try #require(keys.first { $0["name"] as? String == "alex" })
        let blake = try #require(keys.first { $0["name"] as? String == "blake" })
        #expect(limit(alex["max_sessions"]) == "2 2 false")
        #expect((alex["max_channels"] as? [String: Any])?["value"] is NSNull)
        #expect(limit(alex["idle_timeout"]) == "1800 30m false")
        #expect(limit(blake["max_sessions"]) == "10 10 true")
        #expect((alex["permit_open"] as? [[String: String]])?.first?["pattern"] == "none")
        #expect((blake["permit_open"] as? [Any])?.isEmpty == true)
    }

    @Test func limitsDefaultsInTheConfigAreWhatShowKeyCallsTheDefault() throws {
        let site = try Installation()
        try (try String(contentsOfFile: site.config, encoding: .utf8)
            .replacingOccurrences(of: "limits: {", with: "limits: {max_sessions: 3, idle_timeout: 1h, "))
            .write(toFile: site.config, atomically: true, encoding: .utf8)
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"), "--idle-timeout", "off"]).status == 0)
        let show = try site.policyctl(["show-key", "alex", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(limit(object["max_sessions"]) == "3 3 true")
        #expect((object["idle_timeout"] as? [String: Any])?["text"] as? String == "off")
        #expect((object["idle_timeout"] as? [String: Any])?["default"] as? Bool == false)
        let text = try site.policyctl(["show-key", "alex"]).stdout
        #expect(text.contains("\nmax_sessions: 3 (default)\n"), "\(text)")
        #expect(text.contains("\nidle_timeout: off\n"), "\(text)")
    }

    @Test func badFieldValuesAreRefusedNamingTheOption() throws {
        let site = try Installation()
        let line = try site.newKey("alex")
        let refused: [([String], String)] = [
            (["--max-sessions", "0"], "policyctl: --max-sessions \"0\": expected a whole number of at least 1, or unlimited\n"),
            (["--max-listens", "some"], "policyctl: --max-listens \"some\": expected a whole number (0: none at all) or unlimited\n"),
            (["--max-channels", "-1"], "policyctl: --max-channels \"-1\": expected a whole number (0: none at all) or unlimited\n"),
            (["--idle-timeout", "0"], "policyctl: --idle-timeout \"0\": expected a duration like 30s, 5m or 1h, or off\n"),
            (["--permit-open", "none", "--permit-open", "h:1"],
             "policyctl: --permit-open \"none\": none means no rule at all, so it must be the only entry\n"),
        ]
        for (arguments, message) in refused {
            let result = try site.policyctl(["add-key", "--name", "alex", "--key", line] + arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr == message, "\(arguments)")
        }
        for usage in [["--max-sessions", "2", "--max-sessions", "3"], ["--max-session", "2"], ["--idle-timeout"], ["stray"]] {
            let result = try site.policyctl(["add-key", "--name", "alex", "--key", line] + usage)
            #expect(result.status == 2, "\(usage): \(result.stderr)")
        }
        let misspelt = try site.policyctl(["add-key", "--name", "alex", "--key", line, "--max-session", "2"])
        #expect(misspelt.stderr.hasPrefix("Error: unknown option --max-session (did you mean --max-sessions?)"), "\(misspelt.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.keysDir).filter { $0.hasSuffix(".yaml") }.isEmpty)
        let help = try run(policyctlBinary, ["add-key", "--help"]).stdout
        for option in ["--max-sessions N", "--max-listens N", "--max-channels N", "--idle-timeout DURATION", "--permit-open SPEC", "--user NAME"] {
            #expect(help.contains(option), "\(option)")
        }
    }

    @Test func importTurnsOpenSSHNoneIntoNone() throws {
        let site = try Installation()
        let a = try site.newKey("a", comment: "alex")
        let file = try site.scratch.write("authorized_keys", """
            permitlisten="none",permitopen="localhost:5900" \(a)

            """)
        let result = try site.policyctl(["import-authorized-keys", file])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let written = try String(contentsOfFile: "\(site.keysDir)/alex.yaml", encoding: .utf8)
        #expect(written.contains("\npermit_listen: none\n"), "\(written)")
        #expect(try site.policyctl(["check", "--key", "alex", "listen", "8080"]).status == 1)
        #expect(try site.policyctl(["check", "--key", "alex", "open", "localhost:5900"]).status == 0)
        #expect(try site.policyctl(["show-key", "alex"]).stdout.contains("\npermit_listen: none  (\(site.keysDir)/alex.yaml:"))
    }
}

/// A limit's JSON object as "VALUE TEXT DEFAULT".
private func limit(_ value: Any?) -> String? {
    guard let object = value as? [String: Any], let number = object["value"] as? Int, let text = object["text"] as? String,
          let isDefault = object["default"] as? Bool else { return nil }
    return "\(number) \(text) \(isDefault)"
}
