@testable import PortcullisPolicy
import Testing

/// The `algorithms` mapping: it narrows or reorders the daemon's lists, never widens them.
@Suite struct AlgorithmsConfigTests {
    @Test func withoutTheMappingEveryListIsTheDefault() throws {
        let fixture = try Fixture(header)
        defer { fixture.directory.remove() }
        let algorithms = try fixture.load().algorithms
        #expect(algorithms == .defaults)
        // OpenSSH 9.2's defaults or stricter: no SHA-1, DSA, CBC or certificates anywhere.
        let everything = algorithms.kex + algorithms.ciphers + algorithms.macs + algorithms.hostKey + algorithms.pubkey
        #expect(!everything.contains { $0 == "ssh-rsa" || $0.contains("sha1") || $0.contains("dss")
                                        || $0.hasSuffix("-cbc") || $0.contains("-cert-") })
        #expect(algorithms.pubkey.contains("rsa-sha2-256") && algorithms.pubkey.contains("sk-ssh-ed25519@openssh.com"))
    }

    @Test func eachFieldReplacesItsListInTheOrderGiven() throws {
        let fixture = try Fixture(header + """
        algorithms:
          kex_algorithms: [curve25519-sha256]
          ciphers: [aes256-gcm@openssh.com, chacha20-poly1305@openssh.com]
          macs: [hmac-sha2-512-etm@openssh.com]
          host_key_algorithms: [ssh-ed25519]
          pubkey_accepted_algorithms: [ssh-ed25519, rsa-sha2-512]
        """)
        defer { fixture.directory.remove() }
        let algorithms = try fixture.load().algorithms
        #expect(algorithms.kex == ["curve25519-sha256"])
        #expect(algorithms.ciphers == ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
        #expect(algorithms.macs == ["hmac-sha2-512-etm@openssh.com"])
        #expect(algorithms.hostKey == ["ssh-ed25519"])
        #expect(algorithms.pubkey == ["ssh-ed25519", "rsa-sha2-512"])
    }

    @Test func aFieldLeftOutKeepsItsDefault() throws {
        let fixture = try Fixture(header + "algorithms: {ciphers: [aes128-ctr]}\n")
        defer { fixture.directory.remove() }
        let algorithms = try fixture.load().algorithms
        #expect(algorithms.ciphers == ["aes128-ctr"])
        #expect(algorithms.kex == Algorithms.supportedKex && algorithms.pubkey == Algorithms.supportedPubkey)
    }

    @Test func unknownWeakEmptyAndRepeatedNamesAreRefusedWithTheirLine() throws {
        let problems = try Fixture(header + """
        algorithms:
          kex_algorithms: [curve25519-sha256, diffie-hellman-group1-sha1]
          ciphers: [aes128-ctr, aes128-ctr, aes256-cbc]
          macs: []
          host_key_algorithms:
          pubkey_accepted_algorithms:
            - ssh-ed25519
            - ssh-rsa
            - ssh-dss
            - rsa-sha2-256-cert-v01@openssh.com
            - +rsa-sha2-512
            - ssh-ed25519x
        """).problems()
        let supportedPubkey = Algorithms.supportedPubkey.joined(separator: ", ")
        #expect(problems == [
            "$DIR/portcullis.yaml:5: algorithms.kex_algorithms[1] \"diffie-hellman-group1-sha1\": not supported: it relies on SHA-1 or MD5",
            "$DIR/portcullis.yaml:6: algorithms.ciphers[1] \"aes128-ctr\": listed twice",
            "$DIR/portcullis.yaml:6: algorithms.ciphers[2] \"aes256-cbc\": not supported: CBC and unencrypted modes are refused",
            "$DIR/portcullis.yaml:7: algorithms.macs: expected at least one algorithm (leave the field out for the defaults)",
            "$DIR/portcullis.yaml:8: algorithms.host_key_algorithms: expected at least one algorithm (leave the field out for the defaults)",
            "$DIR/portcullis.yaml:11: algorithms.pubkey_accepted_algorithms[1] \"ssh-rsa\": not supported: it relies on SHA-1 or MD5",
            "$DIR/portcullis.yaml:12: algorithms.pubkey_accepted_algorithms[2] \"ssh-dss\": not supported: DSA keys are weak",
            "$DIR/portcullis.yaml:13: algorithms.pubkey_accepted_algorithms[3] \"rsa-sha2-256-cert-v01@openssh.com\": not supported: certificates are not accepted (the daemon does not check their CA)",
            "$DIR/portcullis.yaml:14: algorithms.pubkey_accepted_algorithms[4] \"+rsa-sha2-512\": OpenSSH's +, - and ^ list modifiers are not supported: list the algorithms wanted",
            "$DIR/portcullis.yaml:15: algorithms.pubkey_accepted_algorithms[5] \"ssh-ed25519x\": unknown or unsupported algorithm (did you mean ssh-ed25519?); supported: \(supportedPubkey)",
        ])
    }

    @Test func aNameFromAnotherListIsNotAcceptedHere() throws {
        let problems = try Fixture(header + "algorithms: {macs: [aes128-ctr]}\n").problems()
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("$DIR/portcullis.yaml:4: algorithms.macs[0] \"aes128-ctr\": unknown or unsupported algorithm") == true)
    }

    @Test func wrongShapesAndUnknownFields() throws {
        let problems = try Fixture(header + """
        algorithms:
          ciphers: aes128-ctr,aes256-ctr
          kexalgorithms: [curve25519-sha256]
        """).problems()
        #expect(problems == [
            "$DIR/portcullis.yaml:6: unknown algorithms field \"kexalgorithms\" (did you mean kex_algorithms?)",
            "$DIR/portcullis.yaml:5: algorithms.ciphers: expected a list",
        ])
        #expect(try Fixture(header + "algorithms: [ssh-ed25519]\n").problems() ==
            ["$DIR/portcullis.yaml:4: expected a mapping of algorithms fields"])
    }

    @Test func aNullMappingIsAbsent() throws {
        let fixture = try Fixture(header + "algorithms:\n")
        defer { fixture.directory.remove() }
        #expect(try fixture.load().algorithms == .defaults)
    }
}
