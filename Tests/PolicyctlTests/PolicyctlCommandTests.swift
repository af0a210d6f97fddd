import Foundation
import Testing
import PortcullisTestSupport

/// The built `policyctl` against temporary configs: each command's success and failure paths.
@Suite struct PolicyctlCommandTests {
    @Test func initWritesAStarterWithSafeModesAndRefusesToOverwrite() throws {
        let site = try Installation()
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        #expect(try mode(site.config) == 0o600)
        #expect(try mode(site.keysDir) == 0o700)
        #expect(try mode(site.scratch.file("etc/ssh_host_ed25519_key")) == 0o600)
        #expect(try String(contentsOfFile: site.config, encoding: .utf8).contains("# Every forward is refused"))
        #expect(try site.policyctl(["validate"]).status == 0)
        let before = try String(contentsOfFile: site.config, encoding: .utf8)
        let again = try site.policyctl(["init"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))
        #expect(try String(contentsOfFile: site.config, encoding: .utf8) == before)
    }

    @Test func addThenCheckAllowsNamingTheRuleAndDenyNamesTheReason() throws {
        let site = try Installation()
        let line = try site.newKey("alex")
        let added = try site.policyctl(["add-key", "--name", "alex", "--key", line, "--permit-listen", "8080",
                                        "--permit-streamlocal-listen", "\(site.socketRoot)/%k/*.sock"])
        #expect(added.status == 0, "\(added.stderr)")
        let allow = try site.policyctl(["check", "--key", "alex", "streamlocal-listen", "\(site.socketRoot)/alex/web.sock"])
        #expect(allow.status == 0)
        #expect(allow.stdout == "allow: \(site.keysDir)/alex.yaml:8 \(site.socketRoot)/%k/*.sock\n")
        let deny = try site.policyctl(["check", "--key", "alex", "listen", "9090"])
        #expect(deny.status == 1)
        #expect(deny.stdout == "deny: no permit_listen rule of key alex matches localhost:9090\n")
        let noRules = try site.policyctl(["check", "--key", "alex", "open", "127.0.0.1:22"])
        #expect(noRules.status == 1)
        #expect(noRules.stdout.contains("key alex has no permit_open rules"))
        let json = try site.policyctl(["check", "--json", "--key", "alex", "listen", "8080"])
        #expect(json.status == 0)
        #expect(json.stdout.contains("\"decision\" : \"allow\""))
    }

    @Test func checkAdmissionUserFromAndTime() throws {
        let site = try Installation()
        let line = try site.newKey("blake")
        let fingerprint = try run("/usr/bin/ssh-keygen", ["-lf", site.scratch.file("key-blake.pub")]).stdout
            .split(separator: " ")[1]
        #expect(try site.policyctl(["add-key", "--name", "blake", "--key", line, "--user", "bob", "--from", "10.0.0.0/8",
                                    "--from", "!10.0.0.13", "--expires", "2030-01-01", "--permit-open", "localhost:5900"]).status == 0)
        let base = ["check", "--key", String(fingerprint)]
        #expect(try site.policyctl(base + ["--from", "10.1.2.3", "open", "localhost:5900"]).status == 0)
        let excluded = try site.policyctl(base + ["--from", "10.0.0.13", "open", "localhost:5900"])
        #expect(excluded.status == 1)
        #expect(excluded.stdout.contains("excluded by from pattern \"!10.0.0.13\""))
        let user = try site.policyctl(base + ["--user", "eve", "open", "localhost:5900"])
        #expect(user.stdout.contains("may log in only as user \"bob\""))
        let late = try site.policyctl(base + ["--at", "2030-01-02T00:00:00Z", "open", "localhost:5900"])
        #expect(late.status == 1)
        #expect(late.stdout.contains("expired at 2030-01-01T00:00:00Z"))
        let show = try site.policyctl(["show-key", "blake"])
        #expect(show.stdout.contains("fingerprint: \(fingerprint)"))
        #expect(show.stdout.contains("expires:     2030-01-01T00:00:00Z"))
        #expect(show.stdout.contains("localhost:5900  (\(site.keysDir)/blake.yaml:"))
        #expect(show.stdout.contains("defined at:  \(site.keysDir)/blake.yaml:3"))
        #expect(try site.policyctl(["check", "--key", "nobody", "listen", "1"]).status == 1)
        #expect(try site.policyctl(["check", "--key", "blake", "sideways", "1"]).status == 2)
        #expect(try site.policyctl(["check", "--key", "blake", "open", "no-port"]).status == 2)
    }

    @Test func removeThenCheckDenies() throws {
        let site = try Installation()
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"), "--permit-listen", "8080"]).status == 0)
        #expect(try site.policyctl(["check", "--key", "alex", "listen", "8080"]).status == 0)
        let removed = try site.policyctl(["remove-key", "alex"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(site.keysDir)/alex.yaml"))
        let deny = try site.policyctl(["check", "--key", "alex", "listen", "8080"])
        #expect(deny.status == 1)
        #expect(deny.stdout.contains("no key named \"alex\""))
        let again = try site.policyctl(["remove-key", "alex"])
        #expect(again.status == 1)
        #expect(again.stderr == "policyctl: no key named \"alex\"\n")
    }

    @Test func duplicateNamesAndKeysAreRefused() throws {
        let site = try Installation()
        let line = try site.newKey("alex")
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", line]).status == 0)
        let sameName = try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("other")])
        #expect(sameName.status == 1)
        #expect(sameName.stderr == "policyctl: a key named \"alex\" already exists (defined at \(site.keysDir)/alex.yaml:3)\n")
        let sameKey = try site.policyctl(["add-key", "--name", "alex2", "--key", line])
        #expect(sameKey.status == 1)
        #expect(sameKey.stderr.contains("is already configured as \"alex\" at \(site.keysDir)/alex.yaml:3"))
        #expect(try site.policyctl(["list-keys"]).stdout.split(separator: "\n").count == 2)
    }

    @Test func invalidKeyLinesAndPatternsAreRefusedWithTheReason() throws {
        let site = try Installation()
        let line = try site.newKey("alex")
        let cases: [([String], String)] = [
            (["--key", "ssh-ed25519 AAAA"], "policyctl: --key: key blob is truncated"),
            (["--key", "not a key"], "policyctl: --key: unsupported key type \"not\""),
            (["--key", line, "--permit-streamlocal-open", "/run/../etc/x.sock"], "policyctl: --permit-streamlocal-open \"/run/../etc/x.sock\": "),
            (["--key", line, "--permit-streamlocal-listen", "relative/x.sock"], "policyctl: --permit-streamlocal-listen \"relative/x.sock\": "),
            (["--key", line, "--permit-streamlocal-listen", "/elsewhere/x.sock"], "lies outside socket_root"),
            (["--key", line, "--permit-open", "nohost"], "policyctl: --permit-open \"nohost\": expected host:port"),
            (["--key", line, "--from", "example.com"], "policyctl: --from \"example.com\": "),
            (["--key", line, "--expires", "someday"], "policyctl: --expires \"someday\": expected"),
        ]
        for (arguments, message) in cases {
            let result = try site.policyctl(["add-key", "--name", "alex"] + arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasPrefix(message) || result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.keysDir).filter { $0.hasSuffix(".yaml") }.isEmpty)
        let usage = try site.policyctl(["add-key", "--name", "alex"])
        #expect(usage.status == 2)
    }

    @Test func mainConfigCommentsSurviveAndItsKeysAreNotRemoved() throws {
        let site = try Installation()
        let line = try site.newKey("hand")
        let handWritten = try String(contentsOfFile: site.config, encoding: .utf8)
            + "# a comment the administrator wrote\nkeys:\n  - name: hand\n    key: \"\(line)\"\n"
        try handWritten.write(toFile: site.config, atomically: true, encoding: .utf8)
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex")]).status == 0)
        let refused = try site.policyctl(["remove-key", "hand"])
        #expect(refused.status == 1)
        let lineNumber = handWritten.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("- name: hand") }! + 1
        #expect(refused.stderr.contains("key \"hand\" is defined in the main config at \(site.config):\(lineNumber)"))
        #expect(try site.policyctl(["remove-key", "alex"]).status == 0)
        #expect(try String(contentsOfFile: site.config, encoding: .utf8) == handWritten)
        #expect(try site.policyctl(["list-keys", "--json"]).stdout.contains("\"name\" : \"hand\""))
    }

    @Test func twentyConcurrentAddKeysLeaveTwentyKeys() throws {
        let site = try Installation()
        var script = ""
        for index in 0..<20 {
            let line = try site.newKey("k\(index)")
            script += "'\(policyctlBinary)' add-key --config '\(site.config)' --name k\(index) --key '\(line)' --permit-listen \(8000 + index) >'\(site.scratch.file("out\(index)"))' 2>&1 &\n"
        }
        script += "wait\n"
        let result = try run("/bin/sh", ["-c", script])
        #expect(result.status == 0)
        let validate = try site.policyctl(["validate"])
        #expect(validate.status == 0)
        #expect(validate.stdout.contains("OK (20 keys"), "\(validate.stdout)")
        for index in 0..<20 {
            #expect(try site.policyctl(["check", "--key", "k\(index)", "listen", "\(8000 + index)"]).status == 0)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: site.keysDir).filter { !$0.hasSuffix(".yaml") && $0 != ".policyctl.lock" }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func validateNamesFileAndLine() throws {
        let site = try Installation()
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex")]).status == 0)
        try (try String(contentsOfFile: "\(site.keysDir)/alex.yaml", encoding: .utf8) + "permit_open: [\"nohost\"]\n")
            .write(toFile: "\(site.keysDir)/alex.yaml", atomically: true, encoding: .utf8)
        let invalid = try site.policyctl(["validate"])
        #expect(invalid.status == 1)
        #expect(invalid.stdout.contains("\(site.keysDir)/alex.yaml:5: permit_open"), "\(invalid.stdout)")
        #expect(try site.policyctl(["validate", "--json"]).stdout.contains("\"line\" : 5"))
        // Other commands refuse to work on a config the daemon would reject (exit 2), naming it.
        let check = try site.policyctl(["check", "--key", "alex", "listen", "1"])
        #expect(check.status == 2)
        #expect(check.stderr.contains("alex.yaml:5"))
        #expect(try site.policyctl(["remove-key", "alex"]).status == 2)
    }

    @Test func everySubcommandHelpHasAnExampleAndExitStatuses() throws {
        for command in ["init", "add-key", "remove-key", "list-keys", "show-key", "check", "validate",
                        "import-authorized-keys", "reload"] {
            let help = try run(policyctlBinary, [command, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Example:"), "\(command)")
            #expect(help.stdout.contains("Exit status:"), "\(command)")
        }
    }

    @Test func reloadWithoutADaemonFailsInOneLine() throws {
        let scratch = try TemporaryDirectory()
        let missing = try run(policyctlBinary, ["reload", "--pid-file", scratch.file("none.pid")])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("policyctl: cannot read the pid file"))
        // A live portcullisd (by its executable's name) that never answers: no answer within the deadline.
        let fake = scratch.file("portcullisd")
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: fake)
        let sleeper = try spawn("/bin/sh", ["-c", "trap '' HUP; exec \(fake) 30"])
        defer { kill(sleeper, SIGKILL); waitpid(sleeper, nil, 0) }
        try waitUntil("the shell to exec \(fake)") { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sleeper)/exe")) == fake }
        let pidFile = try scratch.write("d.pid", "\(sleeper)\n")
        let silent = try run(policyctlBinary, ["reload", "--pid-file", pidFile, "--timeout", "0.3"])
        #expect(silent.status == 1)
        #expect(silent.stderr.contains("no answer from portcullisd"))
    }

    @Test func reloadByPidFileSignalsOnlyPortcullisd() throws {
        // The pid file is the daemon account's: it may name any process. SIGHUP would end this one.
        let scratch = try TemporaryDirectory()
        let other = try spawn("/bin/sleep", ["30"])
        defer { kill(other, SIGKILL); waitpid(other, nil, 0) }
        let pidFile = try scratch.write("d.pid", "\(other)\n")
        let refused = try run(policyctlBinary, ["reload", "--pid-file", pidFile, "--timeout", "0.3"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not signalling pid \(other) from \(pidFile): pid \(other) is "), "\(refused.stderr)")
        #expect(refused.stderr.contains("sleep, not portcullisd"), "\(refused.stderr)")
        usleep(200_000)
        #expect(waitpid(other, nil, WNOHANG) == 0, "the sleep process was signalled")
    }
}

/// `import-authorized-keys` through the binary: dry run writes nothing, the import writes one
/// file per key and reports what it skipped and refused.
@Suite struct PolicyctlImportTests {
    @Test func importWritesKeysAndReportsLines() throws {
        let site = try Installation()
        let a = try site.newKey("a", comment: "alex@laptop")
        let b = try site.newKey("b", comment: "blake")
        let file = try site.scratch.write("authorized_keys", """
            restrict,port-forwarding,permitlisten="2222",permitopen="localhost:5900" \(a)
            command="/bin/true",restrict,port-forwarding,permitopen="[/run/app.sock]:*" \(b)
            restrict,bogus-option \(a)

            """)
        let dry = try site.policyctl(["import-authorized-keys", file, "--name-prefix", "old-", "--dry-run"])
        #expect(dry.status == 1)
        #expect(dry.stdout.contains("line 1: would import as old-alex-laptop"))
        #expect(dry.stdout.contains("line 3: not imported: option \"bogus-option\" cannot be translated"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.keysDir).filter { $0.hasSuffix(".yaml") }.isEmpty)
        let real = try site.policyctl(["import-authorized-keys", file, "--name-prefix", "old-"])
        #expect(real.status == 1)
        #expect(real.stdout.contains("line 2: imported as old-blake (\(site.keysDir)/old-blake.yaml)\n  skipped options: command"))
        #expect(real.stdout.hasSuffix("imported 2 keys; 1 lines not imported\n"))
        #expect(try site.policyctl(["check", "--key", "old-alex-laptop", "listen", "2222"]).status == 0)
        #expect(try site.policyctl(["check", "--key", "old-blake", "streamlocal-open", "/run/app.sock"]).status == 0)
        #expect(try site.policyctl(["check", "--key", "old-blake", "open", "localhost:5900"]).status == 1)
        // Importing again refuses every line: the keys are configured now.
        let again = try site.policyctl(["import-authorized-keys", file, "--json"])
        #expect(again.status == 1)
        #expect(again.stdout.contains("already configured as \\\"old-alex-laptop\\\""))
    }
}
