@testable import PortcullisPolicy
import Testing

@Suite struct IPAddressTests {
    @Test("valid addresses and their canonical text", arguments: [
        ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80:0:0:0:0:0:0:1", "fe80::1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"),
        ("::ffff:192.0.2.1", "192.0.2.1"), ("::FFFF:c000:0201", "192.0.2.1"), ("64:ff9b::192.0.2.1", "64:ff9b::c000:201"),
        ("1::", "1::"), ("2001:db8::0:0:1", "2001:db8::1"),
    ])
    func parses(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
    }

    @Test("invalid addresses", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1..2.3", " 1.2.3.4", "localhost",
        "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::g", ":1::", "1:2:3:4:5:6:7::8:9", "[::1]", "::1%eth0",
        "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "0x7f.0.0.1",
    ])
    func rejects(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func lenientParsingForClientAddresses() {
        #expect(IPAddress("[::1]", lenient: true)?.description == "::1")
        #expect(IPAddress("fe80::1%eth0", lenient: true)?.description == "fe80::1")
        #expect(IPAddress("[::ffff:10.0.0.1]", lenient: true)?.description == "10.0.0.1")
    }

    @Test func networks() throws {
        let ten = try IPNetwork.parse("10.0.0.0/8").get()
        #expect(ten.contains(IPAddress("10.255.1.2")!))
        #expect(!ten.contains(IPAddress("11.0.0.0")!))
        #expect(ten.contains(IPAddress("::ffff:10.1.1.1")!))
        #expect(!ten.contains(IPAddress("::a00:1")!))
        let ula = try IPNetwork.parse("fd00::/8").get()
        #expect(ula.contains(IPAddress("fd12:3456::1")!))
        #expect(!ula.contains(IPAddress("fe80::1")!))
        #expect(!ula.contains(IPAddress("10.0.0.1")!))
        #expect(try IPNetwork.parse("0.0.0.0/0").get().contains(IPAddress("203.0.113.9")!))
        #expect(try IPNetwork.parse("::/0").get().contains(IPAddress("2001:db8::1")!))
        let odd = try IPNetwork.parse("192.168.4.0/22").get()
        #expect(odd.contains(IPAddress("192.168.7.255")!))
        #expect(!odd.contains(IPAddress("192.168.8.0")!))
        let host = try IPNetwork.parse("203.0.113.7").get()
        #expect(host.prefixLength == 32 && host.contains(IPAddress("203.0.113.7")!) && !host.contains(IPAddress("203.0.113.8")!))
    }

    @Test("bad networks", arguments: [
        ("10.0.0.1/8", "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/33", "bad prefix length /33 (0-32)"),
        ("fd00::/129", "bad prefix length /129 (0-128)"),
        ("10.0.0.0/", "bad prefix length / (0-32)"),
        ("10.0.0.0/x", "bad prefix length /x (0-32)"),
        ("example.com/8", "example.com is not an IP address"),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104 is an IPv4-mapped address: write it as IPv4"),
        ("fd00::1/8", "host bits set in fd00::1/8 (did you mean fd00::/8?)"),
    ])
    func badNetwork(text: String, message: String) {
        #expect(throws: PatternError(message)) { try IPNetwork.parse(text).get() }
    }
}
