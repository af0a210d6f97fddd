import Foundation
import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// The pure pieces policyctl is built from.
@Suite struct PurePiecesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func expiryForms() throws {
        #expect(try Expiry.parse("2027-01-31T12:00:00+01:00", now: now) == Date(timeIntervalSince1970: 1_801_393_200))
        #expect(try Expiry.parse("2027-01-31", now: now) == Date(timeIntervalSince1970: 1_801_353_600))
        #expect(try Expiry.parse("30d", now: now) == now.addingTimeInterval(30 * 86400))
        #expect(try Expiry.parse("12h", now: now) == now.addingTimeInterval(12 * 3600))
        #expect(try Expiry.parse("2w", now: now) == now.addingTimeInterval(14 * 86400))
        for bad in ["", "30", "0d", "-1d", "2027-13-01", "tomorrow", "30y"] {
            #expect(throws: PatternError.self, "\(bad)") { try Expiry.parse(bad, now: now) }
        }
        #expect(Expiry.text(Date(timeIntervalSince1970: 1_801_353_600.7)) == "2027-01-31T00:00:00Z")
        #expect(Expiry.openSSH("20270131Z") == Date(timeIntervalSince1970: 1_801_353_600))
        #expect(Expiry.openSSH("202701311230Z") == Date(timeIntervalSince1970: 1_801_353_600 + 45000))
        #expect(Expiry.openSSH("20270131", timeZone: TimeZone(secondsFromGMT: 3600)!) == Date(timeIntervalSince1970: 1_801_350_000))
        #expect(Expiry.openSSH("2027013") == nil)
        #expect(Expiry.openSSH("20271301") == nil)
    }

    @Test func namesFromComments() {
        #expect(KeySpec.name(from: "alex@laptop") == "alex-laptop")
        #expect(KeySpec.name(from: "  Blake's key (work) ") == "Blake-s-key-work")
        #expect(KeySpec.name(from: "@@@") == nil)
        #expect(KeySpec.unique("alex", taken: ["alex", "alex-2"]) == "alex-3")
        #expect(KeySpec.unique("blake", taken: ["alex"]) == "blake")
        #expect(KeySpec.quoted("a\"b\\c\u{1}") == "\"a\\\"b\\\\c\\x01\"")
    }

    @Test func keyFileRoundTripsThroughTheLoaderWithoutTouchingDisk() throws {
        let scratch = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.file("keys.d"), withIntermediateDirectories: true)
        let main = try scratch.write("portcullis.yaml", "host_keys: [/k]\nsocket_root: /srv/p\nkeys_dir: keys.d\n")
        let line = try makeKey(scratch.file("alex"), comment: "alex \"the\" admin")
        let spec = KeySpec(name: "alex", key: line, user: "alex", from: ["10.0.0.0/8", "!10.0.0.1"], expires: "2030-01-01T00:00:00Z",
                           permitListen: ["8080", "localhost:9000-9009"], permitOpen: ["[::1]:22"],
                           permitStreamLocalListen: ["/srv/p/%k/*.sock"], permitStreamLocalOpen: ["/srv/p/**"])
        let config = try ConfigLoader.load(path: main, pending: PendingChanges(keyFiles: [spec.fileName: Data(spec.yaml(header: "hi\nthere").utf8)]))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("keys.d/alex.yaml")))
        let entry = try #require(config.keys.first)
        #expect(entry.name == "alex" && entry.user == "alex" && entry.comment == "alex \"the\" admin")
        #expect(entry.location.description == scratch.file("keys.d/alex.yaml") + ":3")
        #expect(entry.from?.description == "10.0.0.0/8,!10.0.0.1")
        #expect(entry.permitListen.map(\.text) == ["8080", "localhost:9000-9009"])
        #expect(entry.permitOpen.map(\.text) == ["[::1]:22"])
        #expect(entry.permitStreamLocalListen.map(\.pattern.text) == ["/srv/p/%k/*.sock"])
        #expect(entry.permitStreamLocalOpen.map(\.pattern.text) == ["/srv/p/**"])
        // A pending removal and a pending invalid file are seen too.
        try Data(spec.yaml().utf8).write(to: URL(fileURLWithPath: scratch.file("keys.d/alex.yaml")))
        #expect(try ConfigLoader.load(path: main, pending: PendingChanges(removedKeyFiles: ["alex.yaml"])).keys.isEmpty)
        #expect(throws: ConfigError.self) {
            try ConfigLoader.load(path: main, pending: PendingChanges(keyFiles: ["bad.yaml": Data("name: bad\n".utf8)]))
        }
        #expect(throws: PatternError.self) { try KeySpec(name: "x", key: line, permitStreamLocalListen: ["/elsewhere/x"]).validate(socketRoot: "/srv/p") }
    }

    @Test func atomicWriteRefusesToReplaceWhenAskedAndLeavesNoTemporaryFiles() throws {
        let scratch = try TemporaryDirectory()
        try AtomicFile.write(Data("one".utf8), to: scratch.file("f"), mode: 0o600, replace: false)
        #expect(throws: AtomicFile.Failure.self) { try AtomicFile.write(Data("two".utf8), to: scratch.file("f"), mode: 0o600, replace: false) }
        try AtomicFile.write(Data("three".utf8), to: scratch.file("f"), mode: 0o640)
        #expect(try scratch.read("f") == "three")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["f"])
        #expect((try FileManager.default.attributesOfItem(atPath: scratch.file("f"))[.posixPermissions] as? Int) == 0o640)
    }

    @Test func authorizedKeysOptionsAreSplitAsSshdDoes() throws {
        let line = try AuthorizedKeys.parse(#"Restrict,command="echo \"hi, there\"",from="1.2.3.4" ssh-ed25519 AAAA c"#)
        #expect(line.options.map(\.name) == ["restrict", "command", "from"])
        #expect(line.options.map(\.value) == [nil, "echo \"hi, there\"", "1.2.3.4"])
        #expect(line.key == "ssh-ed25519 AAAA c")
        #expect(try AuthorizedKeys.parse("ssh-ed25519 AAAA c").options.isEmpty)
        #expect(throws: PatternError.self) { try AuthorizedKeys.parse(#"from="1.2.3.4 ssh-ed25519 AAAA"#) }
        #expect(throws: PatternError.self) { try AuthorizedKeys.parse("restrict") }
    }

    @Test func importTranslatesFaithfullyOrNotAtAll() throws {
        let scratch = try TemporaryDirectory()
        let a = try makeKey(scratch.file("a"), comment: "alex@laptop")
        let b = try makeKey(scratch.file("b"), comment: "blake@desktop")
        let c = try makeKey(scratch.file("c"), comment: "carol")
        let d = try makeKey(scratch.file("d"), comment: "alex@laptop")
        let e = try makeKey(scratch.file("e"), comment: "ci")
        let f = try makeKey(scratch.file("f"), comment: "dana")
        let text = """
            # authorized_keys of the old proxy
            restrict,port-forwarding,permitlisten="2222",permitopen="localhost:5900" \(a)
            from="!192.0.2.13,192.0.2.0/24",expiry-time="20300101Z",no-pty,restrict,port-forwarding,permitopen="[/run/app.sock]:*" \(b)
            command="/usr/bin/backup",no-port-forwarding \(c)
            restrict,port-forwarding,permitopen="localhost:5900 \(d)

            from="*.example.com" \(e)
            \(f)
            """
        let report = AuthorizedKeys.translate(file: text, namePrefix: "", takenNames: ["carol"], existing: [:], socketRoot: "/srv/p")
        #expect(report.imported.map(\.line) == [2, 3, 4, 8])
        #expect(report.refused.map(\.line) == [5, 7])
        let alex = report.imported[0]
        #expect(alex.spec == KeySpec(name: "alex-laptop", key: a, permitListen: ["2222"], permitOpen: ["localhost:5900"]))
        #expect(alex.skipped.isEmpty && alex.notes.isEmpty)
        let blake = report.imported[1]
        #expect(blake.spec == KeySpec(name: "blake-desktop", key: b, from: ["!192.0.2.13", "192.0.2.0/24"], expires: "2030-01-01T00:00:00Z",
                                      permitListen: ["*"], permitStreamLocalOpen: ["/run/app.sock"]))
        #expect(blake.skipped == ["no-pty"])
        #expect(blake.notes == ["no permitlisten: OpenSSH allows any TCP listen, imported as permit_listen \"*\""])
        let carol = report.imported[2]
        #expect(carol.spec == KeySpec(name: "carol-2", key: c))
        #expect(carol.skipped == ["command"])
        #expect(carol.notes.first?.contains("port forwarding is off") == true)
        #expect(report.imported[3].spec == KeySpec(name: "dana", key: f, permitListen: ["*"], permitOpen: ["*:*"]))
        #expect(report.refused[0].reason == "option \"permitopen\": missing closing quote")
        #expect(report.refused[1].reason.hasPrefix("from \"*.example.com\": not an address glob"))

        // With a prefix; a key already configured, or repeated, is refused.
        let again = AuthorizedKeys.translate(file: "\(a)\n\(a)\n\(b)\n", namePrefix: "old-", takenNames: [],
                                             existing: [String(b.split(separator: " ")[1]): "blake"], socketRoot: nil)
        #expect(again.imported.map(\.spec.name) == ["old-alex-laptop"])
        #expect(again.refused == [.init(line: 2, reason: "the same key as line 1"),
                                  .init(line: 3, reason: "the key is already configured as \"blake\"")])
        // What cannot be carried over faithfully.
        for (line, reason) in [("cert-authority \(a)", "option \"cert-authority\" cannot be translated"),
                               ("verify-required \(a)", "option \"verify-required\" cannot be translated"),
                               ("permitopen=\"[/run/x]:22\" \(a)", "a socket path must be written [/path]:*"),
                               ("permitopen=\"[/run/*]:*\" \(a)", "would become patterns here"),
                               ("expiry-time=\"soon\" \(a)", "expected YYYYMMDD[HHMM[SS]][Z]")] {
            let result = AuthorizedKeys.translate(file: line, takenNames: [], existing: [:], socketRoot: nil)
            #expect(result.refused.first?.reason.contains(reason) == true, "\(line): \(result.refused)")
        }
    }
}
