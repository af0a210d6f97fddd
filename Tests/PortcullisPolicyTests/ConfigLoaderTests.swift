import Foundation
@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// Loads YAML fixtures from per-test temporary directories.
struct Fixture {
    let directory: TemporaryDirectory
    var main: String { directory.path + "/portcullis.yaml" }

    init(_ yaml: String, files: [String: String] = [:]) throws {
        directory = try TemporaryDirectory()
        try directory.write("portcullis.yaml", yaml)
        for (name, text) in files { try directory.write(name, text) }
    }

    func load() throws(ConfigError) -> PolicyConfig { try ConfigLoader.load(path: main) }

    /// The problems, with the directory shown as `$DIR`.
    func problems() -> [String] {
        defer { directory.remove() }
        do {
            _ = try load()
            return []
        } catch {
            return error.problems.map { $0.description.replacingOccurrences(of: directory.path, with: "$DIR") }
        }
    }
}

let alexKey = TestKeys.ed25519Line(1, comment: "alex@laptop")
let bobKey = TestKeys.ed25519Line(2, comment: "bob@desk")
let carolKey = TestKeys.ed25519Line(3, comment: nil)

/// The required settings and a comment: three lines, so a test's own YAML starts on line 4.
let header = """
host_keys: [/etc/portcullis/ssh_host_ed25519_key]
socket_root: /srv/portcullis
# test-specific settings follow

"""

@Suite struct ConfigLoaderTests {
    @Test func fullConfigRoundTripIncludingKeysDir() throws {
        let yaml = """
        listen: ["127.0.0.1:2222", "[::1]:2222"]
        host_keys: [/etc/portcullis/ssh_host_ed25519_key, /etc/portcullis/ssh_host_rsa_key]
        socket_root: /srv/portcullis
        socket_mode: "0660"
        gateway_ports: clientspecified
        allow_privileged_ports: true
        keys_dir: keys.d
        audit_log: /var/log/portcullis/audit.jsonl
        audit_syslog: true
        limits: {login_grace_time: 2m, max_auth_tries: 3}
        keys:
          - name: alex-workstation
            key: "\(alexKey)"
            user: alex
            from: ["203.0.113.0/24", "!203.0.113.7"]
            expires: "2027-01-31T00:00:00Z"
            permit_listen: ["localhost:2222"]
            permit_open:
              - "127.0.0.1:5900"
              - "10.0.0.0/8:443"
            permit_streamlocal_listen: ["/srv/portcullis/%k/*.sock"]
            permit_streamlocal_open: ["/srv/portcullis/alex-workstation/vnc.sock"]
        """
        let bob = """
        # bob's key
        name: bob
        key: \(bobKey)
        permit_open: ["db.internal:5432"]
        """
        let carol = """
        name: carol
        key: \(carolKey)
        expires: 2030-06-01T12:00:00+02:00
        """
        let fixture = try Fixture(yaml, files: [
            "keys.d/20-carol.yml": carol, "keys.d/10-bob.yaml": bob,
            "keys.d/README.txt": "not a key", "keys.d/.hidden.yaml": "broken: [",
        ])
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        let dir = fixture.directory.path
        #expect(config.listen == [ListenAddress(host: "127.0.0.1", port: 2222), ListenAddress(host: "::1", port: 2222)])
        #expect(config.hostKeys == ["/etc/portcullis/ssh_host_ed25519_key", "/etc/portcullis/ssh_host_rsa_key"])
        #expect(config.socketRoot == "/srv/portcullis")
        #expect(config.socketMode == 0o660)
        #expect(config.gatewayPorts == .clientspecified)
        #expect(config.allowPrivilegedPorts)
        #expect(config.keysDir == dir + "/keys.d")
        #expect(config.auditLog == "/var/log/portcullis/audit.jsonl")
        #expect(config.auditSyslog)
        #expect(config.limits == Limits(loginGraceTime: 120, maxAuthTries: 3))
        #expect(config.files == [fixture.main, dir + "/keys.d/10-bob.yaml", dir + "/keys.d/20-carol.yml"])
        #expect(config.digest.count == 64)
        #expect(config.keys.map(\.name) == ["alex-workstation", "bob", "carol"])

        let alex = config.keys[0]
        #expect(alex.key == (try PublicKey(line: alexKey)))
        #expect(alex.comment == "alex@laptop")
        #expect(alex.user == "alex")
        #expect(alex.from?.description == "203.0.113.0/24,!203.0.113.7")
        #expect(alex.expires == Date(timeIntervalSince1970: 1_801_353_600))
        #expect(alex.location == SourceLocation(file: fixture.main, line: 12))
        #expect(alex.permitListen.map(\.description) == ["\(fixture.main):17 localhost:2222"])
        #expect(alex.permitOpen.map(\.description) == ["\(fixture.main):19 127.0.0.1:5900", "\(fixture.main):20 10.0.0.0/8:443"])
        #expect(alex.permitStreamLocalListen.map(\.description) == ["\(fixture.main):21 /srv/portcullis/%k/*.sock"])
        #expect(alex.permitStreamLocalOpen.map(\.pattern.text) == ["/srv/portcullis/alex-workstation/vnc.sock"])

        let bobEntry = config.keys[1]
        #expect(bobEntry.location == SourceLocation(file: dir + "/keys.d/10-bob.yaml", line: 2))
        #expect(bobEntry.permitOpen.map(\.description) == ["\(dir)/keys.d/10-bob.yaml:4 db.internal:5432"])
        #expect(bobEntry.user == nil && bobEntry.from == nil && bobEntry.expires == nil && bobEntry.permitListen.isEmpty)
        #expect(config.keys[2].expires == Date(timeIntervalSince1970: 1_906_538_400))
        #expect(config.keys[2].comment == nil)

        // The loaded policy decides with rules named by file and line.
        let policy = Policy(config: config)
        let entry = try #require(policy.admit(key: alex.key, user: "alex", clientAddress: "203.0.113.9",
                                              at: Date(timeIntervalSince1970: 1_800_000_000)).entry)
        #expect(policy.decide(.tcpOpen(host: "127.0.0.1", port: 5900), key: entry, user: "alex") ==
            .allow(rule: .at(fixture.main, 19, "127.0.0.1:5900")))
        #expect(policy.decide(.streamLocalListen(path: "/srv/portcullis/alex-workstation/x.sock"), key: entry, user: "alex") ==
            .allow(rule: .at(fixture.main, 21, "/srv/portcullis/%k/*.sock")))
        #expect(policy.decideOpen(host: "web", port: 443, resolvedAddresses: ["10.1.1.1", "192.0.2.1"], key: entry, user: "alex").1 == ["10.1.1.1"])
        #expect(policy.entry(named: "carol")?.key == (try PublicKey(line: carolKey)))
    }

    @Test func defaults() throws {
        let fixture = try Fixture(header)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.listen.map(\.description) == ["0.0.0.0:22", "[::]:22"])
        #expect(config.socketMode == 0o600)
        #expect(config.gatewayPorts == .no)
        #expect(!config.allowPrivilegedPorts)
        #expect(config.keysDir == nil && !config.auditSyslog)
        #expect(config.auditLog == "/var/log/portcullis/audit.jsonl")
        #expect(config.limits == Limits(loginGraceTime: 30, maxAuthTries: 6))
        #expect(config.keys.isEmpty)
        #expect(config.files == [fixture.main])
    }

    @Test func absoluteKeysDirAndEmptyKeysDir() throws {
        let keys = try TemporaryDirectory()
        defer { keys.remove() }
        try keys.write("a.yaml", "name: a\nkey: \(alexKey)\n")
        let fixture = try Fixture(header + "keys_dir: \(keys.path)\n")
        defer { fixture.directory.remove() }
        #expect(try fixture.load().keys.map(\.name) == ["a"])
        let empty = try Fixture(header + "keys_dir: empty\n", files: ["empty/.keep": ""])
        defer { empty.directory.remove() }
        #expect(try empty.load().keys.isEmpty)
    }

    @Test func digestChangesWithAnyFile() throws {
        let fixture = try Fixture(header + "keys_dir: k\n", files: ["k/a.yaml": "name: a\nkey: \(alexKey)\n"])
        defer { fixture.directory.remove() }
        let first = try fixture.load().digest
        #expect(try fixture.load().digest == first)
        try fixture.directory.write("k/a.yaml", "name: a\nkey: \(alexKey)\npermit_open: [\"h:1\"]\n")
        #expect(try fixture.load().digest != first)
    }

    @Test func auditLogOffOrRelative() throws {
        let off = try Fixture(header + "audit_log: off\n")
        defer { off.directory.remove() }
        #expect(try off.load().auditLog == nil)
        let relative = try Fixture(header + "audit_log: logs/audit.jsonl\n")
        defer { relative.directory.remove() }
        #expect(try relative.load().auditLog == relative.directory.path + "/logs/audit.jsonl")
        let directory = try Fixture(header + "audit_log: /var/log/\n")
        defer { directory.directory.remove() }
        #expect(throws: ConfigError.self) { try directory.load() }
    }

    /// A long keys list is parsed on every core: entries and problems still come out in file order.
    @Test func thousandsOfKeysKeepTheirOrderAndTheirProblems() throws {
        var yaml = header + "keys:\n"
        var brokenLines: [Int] = []
        for index in 0..<2500 {
            yaml += "  - name: k\(index)\n    key: \"\(TestKeys.ed25519Line(1000 + index, comment: "k"))\"\n"
            if index == 7 || index == 2400 {
                brokenLines.append(yaml.split(separator: "\n", omittingEmptySubsequences: false).count)
                yaml += "    permit_open: [\"nohost\"]\n"
            }
        }
        let broken = try Fixture(yaml)
        let problems = broken.problems()
        #expect(problems.count == 2)
        #expect(problems.map { $0.split(separator: ":")[1] }.map(String.init) == brokenLines.map(String.init))
        let fixture = try Fixture(yaml.replacingOccurrences(of: "    permit_open: [\"nohost\"]\n", with: ""))
        defer { fixture.directory.remove() }
        #expect(try fixture.load().keys.map(\.name) == (0..<2500).map { "k\($0)" })
    }

    @Test func durations() throws {
        for (text, seconds) in [("30s", 30), ("2m", 120), ("1h", 3600), ("45", 45), ("\"90\"", 90)] {
            let fixture = try Fixture(header + "limits: {login_grace_time: \(text)}\n")
            defer { fixture.directory.remove() }
            #expect(try fixture.load().limits.loginGraceTime == seconds, "\(text)")
        }
    }

    @Test func resolveTimeout() throws {
        let fixture = try Fixture(header + "limits: {resolve_timeout: 2s}\n")
        defer { fixture.directory.remove() }
        #expect(try fixture.load().limits.resolveTimeout == 2)
        let fallback = try Fixture(header)
        defer { fallback.directory.remove() }
        #expect(try fallback.load().limits.resolveTimeout == 5)
        #expect(try Fixture(header + "limits: {resolve_timeout: 0s}\n").problems() ==
            ["$DIR/portcullis.yaml:4: limits.resolve_timeout \"0s\": expected a duration of at least 1s, like 5s or 1m"])
    }

    @Test func nullOptionalFieldsAreAbsent() throws {
        let fixture = try Fixture(header + """
        keys_dir:
        audit_log: ~
        keys:
          - name: a
            key: \(alexKey)
            user:
            permit_open:
        """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.keysDir == nil && config.auditLog == PolicyConfig.defaultAuditLog)
        #expect(config.keys[0].user == nil && config.keys[0].permitOpen.isEmpty)
    }
}

@Suite struct ConfigLoaderErrorTests {
    @Test func theBriefsExample() throws {
        let problems = try Fixture(header + """
        keys:
          - name: alex
            key: \(alexKey)
            permit_open: ["localhost:22",
                          "127.0.0.1"]
        """).problems()
        #expect(problems == ["$DIR/portcullis.yaml:8: permit_open[1] \"127.0.0.1\": expected host:port"])
    }

    @Test func missingFileAndDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: ConfigError(problems: [ConfigProblem(file: directory.path + "/nope.yaml", line: nil, message: "cannot read: no such file")])) {
            try ConfigLoader.load(path: directory.path + "/nope.yaml")
        }
        #expect(throws: ConfigError(problems: [ConfigProblem(file: directory.path, line: nil, message: "cannot read: is a directory")])) {
            try ConfigLoader.load(path: directory.path)
        }
    }

    @Test func yamlSyntaxErrorsNameTheLine() throws {
        let unclosed = try Fixture(header + "listen: [\"0.0.0.0:22\"\nkeys: []\n").problems()
        #expect(unclosed.count == 1)
        #expect(unclosed[0].hasPrefix("$DIR/portcullis.yaml:5: YAML syntax error: did not find expected ',' or ']'"))
        let badIndent = try Fixture(header + "keys:\n  - name: a\n   key: b\n").problems()
        #expect(badIndent.count == 1 && badIndent[0].hasPrefix("$DIR/portcullis.yaml:6: YAML syntax error:"))
        let tab = try Fixture("host_keys: [a]\n\tsocket_root: /srv\n").problems()
        #expect(tab.count == 1 && tab[0].hasPrefix("$DIR/portcullis.yaml:2: YAML syntax error:"))
        let twoDocuments = try Fixture(header + "---\nkeys: []\n").problems()
        #expect(twoDocuments.count == 1 && twoDocuments[0].hasPrefix("$DIR/portcullis.yaml:4: YAML syntax error:"))
        #expect(try Fixture(header + "socket_root: /x\n").problems() ==
            ["$DIR/portcullis.yaml:2: field \"socket_root\" appears more than once in the same mapping"])
    }

    @Test func emptyAndNonMappingFiles() throws {
        #expect(try Fixture("").problems() == ["$DIR/portcullis.yaml:1: empty config file (host_keys and socket_root are required)"])
        #expect(try Fixture("# nothing\n").problems() == ["$DIR/portcullis.yaml:1: empty config file (host_keys and socket_root are required)"])
        #expect(try Fixture("- a\n- b\n").problems() == ["$DIR/portcullis.yaml:1: expected a mapping of top-level fields"])
    }

    @Test func unknownFieldsAreTypos() throws {
        let problems = try Fixture(header + """
        sockt_mode: "0600"
        bogus: 1
        limits: {login_grace: 30}
        keys:
          - name: a
            key: \(alexKey)
            permit_opne: ["h:1"]
        """).problems()
        #expect(problems == [
            "$DIR/portcullis.yaml:4: unknown top-level field \"sockt_mode\" (did you mean socket_mode?)",
            "$DIR/portcullis.yaml:5: unknown top-level field \"bogus\"",
            "$DIR/portcullis.yaml:6: unknown limits field \"login_grace\" (did you mean login_grace_time?)",
            "$DIR/portcullis.yaml:10: unknown key entry field \"permit_opne\" (did you mean permit_open?)",
        ])
    }

    @Test func missingRequiredFields() throws {
        #expect(try Fixture("listen: [\"0.0.0.0:22\"]\n").problems() == [
            "$DIR/portcullis.yaml:1: missing required field \"host_keys\"",
            "$DIR/portcullis.yaml:1: missing required field \"socket_root\"",
        ])
        #expect(try Fixture("host_keys: [/k]\nsocket_root:\n").problems() == ["$DIR/portcullis.yaml:2: missing required field \"socket_root\""])
        #expect(try Fixture(header + "keys:\n  - name: a\n  - key: \(alexKey)\n  - user: x\n").problems() == [
            "$DIR/portcullis.yaml:5: key entry is missing required field \"key\"",
            "$DIR/portcullis.yaml:6: key entry is missing required field \"name\"",
            "$DIR/portcullis.yaml:7: key entry is missing required field \"name\"",
            "$DIR/portcullis.yaml:7: key entry is missing required field \"key\"",
        ])
    }

    @Test func badSettings() throws {
        let problems = try Fixture("""
        listen: ["0.0.0.0", "::1:22", "[::1]:65536", "host:22"]
        host_keys: []
        socket_root: /srv/portcullis/
        socket_mode: "0800"
        gateway_ports: maybe
        allow_privileged_ports: yes
        audit_syslog: 1
        limits: {login_grace_time: 30x, max_auth_tries: 0}
        keys: {name: a}
        """).problems()
        #expect(problems == [
            "$DIR/portcullis.yaml:1: listen[0] \"0.0.0.0\": expected host:port or [v6]:port",
            "$DIR/portcullis.yaml:1: listen[1] \"::1:22\": expected host:port or [v6]:port",
            "$DIR/portcullis.yaml:1: listen[2] \"[::1]:65536\": expected host:port or [v6]:port",
            "$DIR/portcullis.yaml:2: host_keys: expected at least one key file",
            "$DIR/portcullis.yaml:3: socket_root \"/srv/portcullis/\": ends with \"/\"",
            "$DIR/portcullis.yaml:4: socket_mode \"0800\": expected an octal mode like \"0600\"",
            "$DIR/portcullis.yaml:5: gateway_ports \"maybe\": expected \"no\", \"yes\" or \"clientspecified\"",
            "$DIR/portcullis.yaml:6: allow_privileged_ports \"yes\": expected true or false",
            "$DIR/portcullis.yaml:7: audit_syslog \"1\": expected true or false",
            "$DIR/portcullis.yaml:8: limits.login_grace_time \"30x\": expected a duration like 30s, 2m, 1h or a number of seconds",
            "$DIR/portcullis.yaml:8: limits.max_auth_tries \"0\": expected a positive whole number",
            "$DIR/portcullis.yaml:9: keys: expected a list",
        ])
    }

    @Test("socket_root must be absolute and normalised", arguments: [
        ("srv", "not absolute"), ("/srv/../etc", "contains a \"..\" component"), ("/srv//p", "contains \"//\""),
        ("/srv/./p", "contains a \".\" component"),
    ])
    func socketRoot(root: String, problem: String) throws {
        #expect(try Fixture("host_keys: [/k]\nsocket_root: \"\(root)\"\n").problems() ==
            ["$DIR/portcullis.yaml:2: socket_root \"\(root)\": \(problem)"])
    }

    @Test func wrongShapes() throws {
        #expect(try Fixture("host_keys: /k\nsocket_root: [/srv]\nlimits: 5\n").problems() == [
            "$DIR/portcullis.yaml:1: host_keys: expected a list",
            "$DIR/portcullis.yaml:2: socket_root: expected a single value, not a list",
            "$DIR/portcullis.yaml:3: expected a mapping of limits fields",
        ])
        #expect(try Fixture(header + "keys:\n  - just-a-string\n  - name: [a]\n    key: \(alexKey)\n    permit_open: [[\"h:1\"]]\n").problems() == [
            "$DIR/portcullis.yaml:5: expected a mapping of key entry fields",
            "$DIR/portcullis.yaml:6: name: expected a single value, not a list",
            "$DIR/portcullis.yaml:8: permit_open[0]: expected a string, not a list",
        ])
    }

    @Test func badKeyEntries() throws {
        let problems = try Fixture(header + """
        keys:
          - name: "bad name"
            key: "ssh-ed25519 AAAA"
            expires: "2027-01-31"
            from: ["example.com", "10.0.0.1/8"]
          - name: b
            key: "ssh-rsa \(alexKey.split(separator: " ")[1])"
            user: ""
            from: []
            permit_listen: ["localhost:0", "*:*"]
            permit_streamlocal_listen: ["/tmp/*.sock", "/srv/portcullis/../x", "/srv/portcullis/%q", "/srv/portcullis/ok.sock"]
            permit_streamlocal_open: ["relative.sock", "/a/**b"]
        """).problems()
        #expect(problems == [
            "$DIR/portcullis.yaml:5: name \"bad name\": expected letters, digits, \".\", \"_\" or \"-\" (and not . or ..)",
            "$DIR/portcullis.yaml:6: key: key blob is truncated",
            "$DIR/portcullis.yaml:8: from[0] \"example.com\": not an IP address, CIDR block or address glob (host names are not resolved)",
            "$DIR/portcullis.yaml:8: from[1] \"10.0.0.1/8\": host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
            "$DIR/portcullis.yaml:7: expires \"2027-01-31\": expected an RFC 3339 date-time like 2027-01-31T00:00:00Z",
            "$DIR/portcullis.yaml:10: key: key blob is for ssh-ed25519, not ssh-rsa",
            "$DIR/portcullis.yaml:11: user \"\": expected a user name",
            "$DIR/portcullis.yaml:12: from: an empty list would refuse every client; omit it to allow any address",
            "$DIR/portcullis.yaml:13: permit_listen[0] \"localhost:0\": bad port \"0\" (expected 1-65535, *, or a range like 8000-8099)",
            "$DIR/portcullis.yaml:14: permit_streamlocal_listen[0] \"/tmp/*.sock\": lies outside socket_root /srv/portcullis, so it can never match",
            "$DIR/portcullis.yaml:14: permit_streamlocal_listen[1] \"/srv/portcullis/../x\": contains a \"..\" component",
            "$DIR/portcullis.yaml:14: permit_streamlocal_listen[2] \"/srv/portcullis/%q\": unknown substitution %q (use %k, %u or %%)",
            "$DIR/portcullis.yaml:15: permit_streamlocal_open[0] \"relative.sock\": not absolute",
            "$DIR/portcullis.yaml:15: permit_streamlocal_open[1] \"/a/**b\": \"**\" must be a whole path component",
        ])
    }

    @Test("key names", arguments: [("a.b_c-D9", true), (".", false), ("..", false), ("a/b", false), ("é", false), ("a b", false), ("%k", false)])
    func keyNames(name: String, valid: Bool) {
        #expect(KeyEntry.isValidName(name) == valid)
    }

    @Test func duplicateNamesAndKeysNameBothLocations() throws {
        let problems = try Fixture(header + """
        keys_dir: keys.d
        keys:
          - name: alex
            key: \(alexKey)
          - name: alex
            key: \(bobKey)
          - name: alex-again
            key: \(alexKey.replacingOccurrences(of: "alex@laptop", with: "other comment"))
        """, files: ["keys.d/bob.yaml": "name: bob\nkey: \(bobKey)\n", "keys.d/alex.yaml": "\nname: alex\nkey: \(carolKey)\n"]).problems()
        let fingerprint = try PublicKey(line: alexKey).fingerprint
        let bobFingerprint = try PublicKey(line: bobKey).fingerprint
        #expect(problems == [
            "$DIR/portcullis.yaml:8: duplicate key name \"alex\" (first defined at $DIR/portcullis.yaml:6)",
            "$DIR/portcullis.yaml:10: key \"alex-again\" is the same public key (\(fingerprint)) as key \"alex\" at $DIR/portcullis.yaml:6",
            "$DIR/keys.d/alex.yaml:2: duplicate key name \"alex\" (first defined at $DIR/portcullis.yaml:6)",
            "$DIR/keys.d/bob.yaml:1: key \"bob\" is the same public key (\(bobFingerprint)) as key \"alex\" at $DIR/portcullis.yaml:8",
        ])
    }

    @Test func keysDirFileErrorsNameThatFile() throws {
        let problems = try Fixture(header + "keys_dir: keys.d\n", files: [
            "keys.d/a.yaml": "name: a\nkey: \(alexKey)\npermit_open: [\"nope\"]\n",
            "keys.d/b.yaml": "name: b\nkey: [\n",
            "keys.d/c.yml": "",
            "keys.d/d.yaml": "- name: d\n",
            "keys.d/e.yaml": "name: e\nkey: \(bobKey)\ncolour: blue\n",
        ]).problems()
        #expect(problems.count == 5)
        #expect(problems[0] == "$DIR/keys.d/a.yaml:3: permit_open[0] \"nope\": expected host:port")
        #expect(problems[1].hasPrefix("$DIR/keys.d/b.yaml:3: YAML syntax error:"))
        #expect(problems[2] == "$DIR/keys.d/c.yml:1: empty key file: expected a mapping with the key entry's fields")
        #expect(problems[3] == "$DIR/keys.d/d.yaml:1: expected a mapping of key entry fields")
        #expect(problems[4] == "$DIR/keys.d/e.yaml:3: unknown key entry field \"colour\"")
    }

    @Test func keysDirMustExist() throws {
        #expect(try Fixture(header + "keys_dir: missing.d\n").problems() == ["$DIR/portcullis.yaml:4: keys_dir \"missing.d\": no such directory"])
        #expect(try Fixture(header + "keys_dir: file\n", files: ["file": "x"]).problems() == ["$DIR/portcullis.yaml:4: keys_dir \"file\": not a directory"])
    }

    @Test func allProblemsAreCollectedAndListedOnePerLine() throws {
        let fixture = try Fixture("socket_mode: \"9\"\nkeys:\n  - name: a\n    key: nope\n")
        defer { fixture.directory.remove() }
        do {
            _ = try fixture.load()
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.count == 4)
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(lines == error.problems.map(\.description))
            #expect(lines.allSatisfy { $0.hasPrefix(fixture.main + ":") })
        }
    }

    @Test func listenPatternsAreNotCheckedAgainstAnInvalidRoot() throws {
        let problems = try Fixture("host_keys: [/k]\nsocket_root: srv\nkeys:\n  - name: a\n    key: \(alexKey)\n    permit_streamlocal_listen: [/tmp/x]\n").problems()
        #expect(problems == ["$DIR/portcullis.yaml:2: socket_root \"srv\": not absolute"])
    }
}
