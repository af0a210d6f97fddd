import Foundation
@testable import PortcullisPolicy
import Testing

@Suite struct AdmissionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func admit(_ entry: KeyEntry, user: String = "alex", from client: String = "203.0.113.5", at date: Date? = nil) -> KeyAdmission {
        makePolicy([entry]).admit(key: entry.key, user: user, clientAddress: client, at: date ?? now)
    }

    @Test func admitsAKnownKeyWithoutRestrictions() throws {
        let entry = try makeEntry()
        #expect(admit(entry, user: "anyone", from: "2001:db8::1") == .admitted(entry))
    }

    @Test func unknownKey() throws {
        let stranger = TestKeys.key(99)
        let admission = makePolicy([try makeEntry()]).admit(key: stranger, user: "alex", clientAddress: "1.2.3.4", at: now)
        #expect(admission == .refused(reason: "unknown key ssh-ed25519 \(stranger.fingerprint)"))
        #expect(makePolicy([]).admit(key: stranger, user: "alex", clientAddress: "1.2.3.4", at: now).entry == nil)
    }

    @Test func expiryBoundary() throws {
        let expires = RFC3339.date(from: "2027-01-31T00:00:00Z")!
        let entry = try makeEntry(expires: expires)
        #expect(admit(entry, at: expires.addingTimeInterval(-0.001)) == .admitted(entry))
        #expect(admit(entry, at: expires) == .refused(reason: "key alex expired at 2027-01-31T00:00:00Z"))
        #expect(admit(entry, at: expires.addingTimeInterval(1)).entry == nil)
    }

    @Test func wrongUser() throws {
        let entry = try makeEntry(user: "alex")
        #expect(admit(entry, user: "alex") == .admitted(entry))
        #expect(admit(entry, user: "root") == .refused(reason: "key alex may log in only as user \"alex\", not \"root\""))
        #expect(admit(entry, user: "Alex").entry == nil)
    }

    @Test func fromWithCidrAndNegation() throws {
        let entry = try makeEntry(from: ["203.0.113.0/24", "!203.0.113.7"])
        #expect(admit(entry, from: "203.0.113.5") == .admitted(entry))
        #expect(admit(entry, from: "203.0.113.7") ==
            .refused(reason: "client address 203.0.113.7 is excluded by from pattern \"!203.0.113.7\" of key alex"))
        #expect(admit(entry, from: "198.51.100.1") ==
            .refused(reason: "client address 198.51.100.1 matches no from pattern of key alex"))
        // Any negative match refuses, whatever the order.
        let negativeFirst = try makeEntry(from: ["!203.0.113.0/28", "203.0.113.0/24"])
        #expect(admit(negativeFirst, from: "203.0.113.3").entry == nil)
        #expect(admit(negativeFirst, from: "203.0.113.200") == .admitted(negativeFirst))
        let negativeOnly = try makeEntry(from: ["!10.0.0.0/8"])
        #expect(admit(negativeOnly, from: "192.0.2.1").entry == nil, "a positive match is still needed")
    }

    @Test func fromWithGlobs() throws {
        let entry = try makeEntry(from: ["192.0.2.*", "198.51.100.?"])
        #expect(admit(entry, from: "192.0.2.77").entry != nil)
        #expect(admit(entry, from: "198.51.100.9").entry != nil)
        #expect(admit(entry, from: "198.51.100.10").entry == nil)
        #expect(admit(entry, from: "192.0.3.1").entry == nil)
        let v6 = try makeEntry(from: ["2001:DB8::*"])
        #expect(admit(v6, from: "2001:db8::abcd").entry != nil)
        #expect(admit(v6, from: "2001:0db8:0:0::1").entry != nil, "globs match the canonical text")
        let negated = try makeEntry(from: ["*", "!10.*"])
        #expect(admit(negated, from: "10.1.1.1").entry == nil)
        #expect(admit(negated, from: "11.1.1.1").entry != nil)
    }

    @Test func fromWithIPv6AndMappedAddresses() throws {
        let entry = try makeEntry(from: ["2001:db8::/32", "10.0.0.0/8"])
        #expect(admit(entry, from: "2001:db8:1::5").entry != nil)
        #expect(admit(entry, from: "2001:db9::5").entry == nil)
        #expect(admit(entry, from: "::ffff:10.1.2.3").entry != nil, "IPv4-mapped IPv6 is treated as IPv4")
        #expect(admit(entry, from: "[2001:db8::1]").entry != nil)
        #expect(admit(entry, from: "fe80::1%eth0").entry == nil)
        let glob = try makeEntry(from: ["10.1.*"])
        #expect(admit(glob, from: "::ffff:10.1.2.3").entry != nil)
        let exclusion = try makeEntry(from: ["*", "!10.0.0.0/8"])
        #expect(admit(exclusion, from: "::ffff:10.0.0.1").entry == nil)
    }

    @Test func unparseableClientAddressIsRefusedWhenFromIsSet() throws {
        let entry = try makeEntry(from: ["*"])
        #expect(admit(entry, from: "not-an-ip") == .refused(reason: "client address not-an-ip matches no from pattern of key alex"))
        #expect(admit(try makeEntry(), from: "not-an-ip").entry != nil)
    }

    @Test func checksInOrderExpiryUserFrom() throws {
        let entry = try makeEntry(user: "alex", from: ["10.0.0.0/8"], expires: now)
        #expect(admit(entry, user: "bob", from: "1.1.1.1").entry == nil)
        if case .refused(let reason) = admit(entry, user: "bob", from: "1.1.1.1") { #expect(reason.contains("expired")) }
        let live = try makeEntry(user: "alex", from: ["10.0.0.0/8"])
        if case .refused(let reason) = admit(live, user: "bob", from: "1.1.1.1") { #expect(reason.contains("only as user")) }
    }

    @Test("from pattern syntax", arguments: [
        ("203.0.113.0/24", nil), ("!203.0.113.7", nil), ("2001:db8::/32", nil), ("10.*", nil), ("*", nil), ("fe80::?", nil),
        ("", "empty address pattern"), ("!", "empty address pattern"),
        ("example.com", "not an IP address, CIDR block or address glob (host names are not resolved)"),
        ("*.example.com", "not an address glob (only hex digits, \".\", \":\", \"*\" and \"?\"; host names are not resolved)"),
        ("10.0.0.1/8", "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/99", "bad prefix length /99 (0-32)"),
        ("!!10.0.0.1", "not an IP address, CIDR block or address glob (host names are not resolved)"),
    ] as [(String, String?)])
    func patternSyntax(text: String, error: String?) {
        if let error {
            #expect(throws: PatternError(error)) { try AddressPattern(text) }
        } else {
            #expect(throws: Never.self) { try AddressPattern(text) }
        }
    }
}

@Suite struct PolicyIndexTests {
    @Test func lookupsByKeyNameAndFingerprint() throws {
        let alex = try makeEntry(name: "alex", seed: 1), bob = try makeEntry(name: "bob", seed: 2)
        let policy = makePolicy([alex, bob])
        #expect(policy.entry(for: bob.key) == bob)
        #expect(policy.entry(named: "alex") == alex)
        #expect(policy.entry(named: "carol") == nil)
        #expect(policy.entry(fingerprint: bob.key.fingerprint) == bob)
        #expect(policy.entry(for: TestKeys.key(3)) == nil)
        // A key as libssh hands it over (same blob, any comment) finds its entry.
        let received = PublicKey(algorithm: alex.key.algorithm, base64: alex.key.base64, fingerprint: alex.key.fingerprint)
        #expect(policy.entry(for: received) == alex)
    }

    @Test func tenThousandKeysAdmitQuickly() throws {
        let entries = (0..<10_000).map { index in
            KeyEntry(name: "key-\(index)", key: TestKeys.key(index), location: at(index + 1))
        }
        #expect(Set(entries.map(\.key.base64)).count == 10_000)
        let policy = makePolicy(entries)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for index in stride(from: 0, to: 10_000, by: 7) {
                let admission = policy.admit(key: entries[index].key, user: "u", clientAddress: "192.0.2.1", at: Date())
                precondition(admission.entry?.name == "key-\(index)")
            }
        }
        #expect(elapsed < .seconds(1))
    }
}
