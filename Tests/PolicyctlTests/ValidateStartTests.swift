import Foundation
import Testing
import PortcullisTestSupport

/// `policyctl validate` finds what would stop the daemon at start (the same StartupCheck as
/// `portcullisd --check`), each at the line of its entry: line 7 holds `listen` and line 8
/// `host_keys` in the file `policyctl init` writes.
@Suite struct ValidateStartTests {
    static func hostKey(_ site: Installation) -> String { site.scratch.file("etc/ssh_host_ed25519_key") }

    @Test func aGroupReadableHostKeyIsRefusedAsSshdRefusesIt() throws {
        let site = try Installation()
        #expect(try site.policyctl(["validate"]).status == 0)
        #expect(chmod(Self.hostKey(site), 0o640) == 0)
        let result = try site.policyctl(["validate"])
        #expect(result.status == 1)
        #expect(result.stdout == "\(site.config):8: host_keys[0] \"\(Self.hostKey(site))\": UNPROTECTED PRIVATE KEY FILE: "
                + "permissions 0640 let group or others at it (sshd refuses such a key too): chmod 600 it\n")
        let json = try site.policyctl(["validate", "--json"])
        #expect(json.stdout.contains("\"line\" : 8"), "\(json.stdout)")
        #expect(json.stdout.contains("UNPROTECTED PRIVATE KEY FILE"))
    }

    @Test func aMissingOrUnparsableHostKeyIsNamed() throws {
        let site = try Installation()
        try "not a key\n".write(toFile: Self.hostKey(site), atomically: false, encoding: .utf8)
        let garbage = try site.policyctl(["validate"])
        #expect(garbage.status == 1)
        #expect(garbage.stdout.contains(":8: host_keys[0] \"\(Self.hostKey(site))\": not a private key libssh can load"), "\(garbage.stdout)")
        // A public key given by mistake is no private key either.
        try FileManager.default.removeItem(atPath: Self.hostKey(site))
        let missing = try site.policyctl(["validate"])
        #expect(missing.stdout.contains(":8: host_keys[0] \"\(Self.hostKey(site))\": no such file"), "\(missing.stdout)")
        #expect(symlink(Self.hostKey(site) + ".pub", Self.hostKey(site)) == 0)
        #expect(chmod(Self.hostKey(site) + ".pub", 0o600) == 0)
        #expect(try site.policyctl(["validate"]).stdout.contains("not a private key libssh can load"))
    }

    @Test(arguments: [["-t", "ed25519"], ["-t", "rsa", "-b", "2048", "-m", "PEM"]])
    func aHostKeyWithAPassphraseIsRefusedWithoutAPrompt(type: [String]) throws {
        let site = try Installation()
        try FileManager.default.removeItem(atPath: Self.hostKey(site))
        try FileManager.default.removeItem(atPath: Self.hostKey(site) + ".pub")
        let made = try run("/usr/bin/ssh-keygen", ["-q"] + type + ["-N", "secret", "-f", Self.hostKey(site)])
        #expect(made.status == 0, "\(made.stderr)")
        let result = try site.policyctl(["validate"])
        #expect(result.status == 1)
        #expect(result.stdout.contains(":8: host_keys[0] \"\(Self.hostKey(site))\": protected by a passphrase: a host key must load without one"),
                "\(result.stdout)")
    }

    @Test func aListenHostNameDoesNotResolve() throws {
        let site = try Installation()
        let text = try String(contentsOfFile: site.config, encoding: .utf8)
        try text.replacingOccurrences(of: "\"127.0.0.1:2222\"", with: "\"127.0.0.1:2222\", \"no-such-host.invalid:22\"")
            .write(toFile: site.config, atomically: false, encoding: .utf8)
        let result = try site.policyctl(["validate"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("\(site.config):7: listen[1] \"no-such-host.invalid:22\": does not resolve"), "\(result.stdout)")
    }
}
