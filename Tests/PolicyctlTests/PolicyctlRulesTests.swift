import Foundation
import Testing
import PortcullisTestSupport

/// Issue 12's policyctl parts: global options before the subcommand, `check` with the audit log's
/// kind names and the empty listen host, and typed grants in `check --json`.
@Suite struct PolicyctlRulesTests {
    @Test func configBeforeTheSubcommandWorksAsAfter() throws {
        let site = try Installation()
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"), "--permit-listen", "8080"]).status == 0)
        let after = try run(policyctlBinary, ["list-keys", "--config", site.config])
        #expect(after.status == 0 && after.stdout.contains("alex"), "\(after.stderr)")
        for arguments in [["--config", site.config, "list-keys"], ["--config=\(site.config)", "list-keys"]] {
            let before = try run(policyctlBinary, arguments)
            #expect(before.status == 0, "\(before.stderr)")
            #expect(before.stdout == after.stdout)
        }
        // A nested subcommand: the option goes after its whole path.
        let verifyAfter = try run(policyctlBinary, ["audit", "verify", "--config", site.config])
        let verifyBefore = try run(policyctlBinary, ["--config", site.config, "audit", "verify"])
        #expect(verifyBefore.status == verifyAfter.status)
        #expect(verifyBefore.stdout == verifyAfter.stdout)
        #expect(verifyBefore.stderr == verifyAfter.stderr)
        #expect(!verifyBefore.stderr.contains("Unknown option"))
        // With the options of the subcommand after it.
        let check = try run(policyctlBinary, ["--config", site.config, "check", "--key", "alex", "listen", "8080"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout == "allow: \(site.keysDir)/alex.yaml:6 8080\n")
    }

    @Test func unknownOrIncompleteGlobalOptionsAreNamed() throws {
        let site = try Installation()
        let unknown = try run(policyctlBinary, ["--verbose", "list-keys", "--config", site.config])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "policyctl: unknown option \"--verbose\" before the subcommand (only --config may come first)\n")
        // ArgumentParser's own top-level flags are left to it: the whole tool's help as JSON (man pages).
        let dump = try run(policyctlBinary, ["--experimental-dump-help"])
        #expect(dump.status == 0 && dump.stdout.contains("\"commandName\" : \"policyctl\""), "\(dump.stderr)")
        let missing = try run(policyctlBinary, ["--config"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "policyctl: missing value for --config (--config FILE)\n")
        let noCommand = try run(policyctlBinary, ["--config", site.config])
        #expect(noCommand.status == 2)
        #expect(noCommand.stderr == "policyctl: a subcommand must follow --config\n")
        let badCommand = try run(policyctlBinary, ["--config", site.config, "lst-keys"])
        #expect(badCommand.status == 2)
        #expect(badCommand.stderr == "policyctl: unknown subcommand \"lst-keys\"\n")
        #expect(try run(policyctlBinary, ["--help"]).status == 0)
    }

    @Test func checkTakesTheAuditKindNamesAndTheEmptyListenHost() throws {
        let site = try Installation()
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"),
                                    "--permit-listen", ":8080", "--permit-open", "localhost:5900"]).status == 0)
        let file = "\(site.keysDir)/alex.yaml"
        let empty = try site.policyctl(["check", "--key", "alex", "tcp-listen", ":8080"])
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(empty.stdout == "allow: \(file):6 :8080\n")
        #expect(try site.policyctl(["check", "--key", "alex", "listen", ":8080"]).stdout == empty.stdout)
        // The empty-host rule is not *:8080: a listen on localhost or a named host is refused.
        let named = try site.policyctl(["check", "--key", "alex", "listen", "8080"])
        #expect(named.status == 1)
        #expect(named.stdout == "deny: no permit_listen rule of key alex matches localhost:8080\n")
        #expect(try site.policyctl(["check", "--key", "alex", "listen", "*:8080"]).status == 1)
        let open = try site.policyctl(["check", "--key", "alex", "tcp-open", "localhost:5900"])
        #expect(open.status == 0)
        #expect(open.stdout.hasPrefix("allow: \(file):"))
        // Hosts of permit_open compare exactly, as OpenSSH's do.
        let upper = try site.policyctl(["check", "--key", "alex", "open", "LOCALHOST:5900"])
        #expect(upper.status == 1)
        #expect(upper.stdout == "deny: no permit_open rule of key alex matches LOCALHOST:5900\n")
        let bad = try site.policyctl(["check", "--key", "alex", "tcp-listen", "x:y"])
        #expect(bad.status == 2)
        #expect(bad.stderr == "policyctl: tcp-listen target \"x:y\": expected [HOST]:PORT or PORT\n")
    }

    @Test func checkJSONCarriesTheGrantsLocationAndPattern() throws {
        let site = try Installation()
        #expect(try site.policyctl(["add-key", "--name", "alex", "--key", site.newKey("alex"), "--permit-listen", "localhost:8000-8099"]).status == 0)
        let json = try site.policyctl(["check", "--json", "--key", "alex", "tcp-listen", "localhost:8042"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["location"] as? String == "\(site.keysDir)/alex.yaml:6")
        #expect(object?["pattern"] as? String == "localhost:8000-8099")
        #expect(object?["rule"] as? String == "\(site.keysDir)/alex.yaml:6 localhost:8000-8099")
        #expect(object?["request"] as? String == "tcp-listen localhost:8042")
    }

    @Test func permitRulesOpenSSHFormsAreRefusedWithAdvice() throws {
        let site = try Installation()
        let key = try site.newKey("alex")
        let slash = try site.policyctl(["add-key", "--name", "alex", "--key", key, "--permit-open", "localhost/5900"])
        #expect(slash.status != 0)
        #expect(slash.stderr.contains("OpenSSH's host/port form is not accepted: write host:port"))
        let upper = try site.policyctl(["add-key", "--name", "alex", "--key", key, "--permit-listen", "LOCALHOST:8080"])
        #expect(upper.status != 0)
        #expect(upper.stderr.contains("write \"localhost\""))
        let plus = try site.policyctl(["add-key", "--name", "alex", "--key", key, "--permit-listen", "+8080"])
        #expect(plus.status != 0)
        #expect(plus.stderr.contains("bad port \"+8080\""))
    }
}
