@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

@Suite struct StreamLocalDecisionTests {
    let root = "/srv/portcullis"

    func listen(_ rules: [String], _ path: String, key: String = "alex", user: String = "alex", root: String = "/srv/portcullis") throws -> Decision {
        let entry = try makeEntry(name: key, streamListen: rules)
        return makePolicy([entry], socketRoot: root).decide(.streamLocalListen(path: path), key: entry, user: user)
    }

    func open(_ rules: [String], _ path: String, user: String = "alex") throws -> Decision {
        let entry = try makeEntry(streamOpen: rules)
        return makePolicy([entry]).decide(.streamLocalOpen(path: path), key: entry, user: user)
    }

    @Test func grantNamesFileLineAndPattern() throws {
        #expect(try listen(["/srv/portcullis/%k/*.sock"], "/srv/portcullis/alex/vnc.sock") ==
            .allow(rule: .at("rules.yaml", 30, "/srv/portcullis/%k/*.sock")))
        #expect(try open(["/srv/a.sock", "/srv/portcullis/alex/vnc.sock"], "/srv/portcullis/alex/vnc.sock") ==
            .allow(rule: .at("rules.yaml", 41, "/srv/portcullis/alex/vnc.sock")))
    }

    @Test func keyAndUserSubstitution() throws {
        #expect(try !listen(["/srv/portcullis/%k/*.sock"], "/srv/portcullis/bob/vnc.sock").isAllowed)
        #expect(try listen(["/srv/portcullis/%k/*.sock"], "/srv/portcullis/bob/vnc.sock", key: "bob").isAllowed)
        #expect(try listen(["/srv/portcullis/%u/*.sock"], "/srv/portcullis/carol/x.sock", user: "carol").isAllowed)
        #expect(try !listen(["/srv/portcullis/%u/*.sock"], "/srv/portcullis/carol/x.sock", user: "dave").isAllowed)
        #expect(try listen(["/srv/portcullis/%%%k.sock"], "/srv/portcullis/%alex.sock").isAllowed)
        #expect(try !listen(["/srv/portcullis/%u/x.sock"], "/srv/portcullis/anyone/x.sock", user: "*").isAllowed)
        #expect(try open(["/run/%u.sock"], "/run/alex.sock").isAllowed)
    }

    @Test func starStaysInsideAComponent() throws {
        #expect(try !listen(["/srv/portcullis/*.sock"], "/srv/portcullis/a/b.sock").isAllowed)
        #expect(try listen(["/srv/portcullis/**/*.sock"], "/srv/portcullis/a/b.sock").isAllowed)
        #expect(try listen(["/srv/portcullis/**/*.sock"], "/srv/portcullis/b.sock").isAllowed)
        #expect(try !open(["/run/*"], "/run/a/b").isAllowed)
        #expect(try open(["/run/**"], "/run/a/b").isAllowed)
    }

    @Test("malformed paths are refused, never normalised", arguments: [
        ("relative.sock", "malformed path: not absolute"),
        ("/srv/portcullis/../etc/x.sock", "malformed path: contains a \"..\" component"),
        ("/srv/portcullis/./x.sock", "malformed path: contains a \".\" component"),
        ("/srv/portcullis//x.sock", "malformed path: contains \"//\""),
        ("/srv/portcullis/x/", "malformed path: ends with \"/\""),
        ("/srv/portcullis/x\0.sock", "malformed path: contains a NUL byte"),
        ("/srv/portcullis/" + String(repeating: "x", count: 92), "malformed path: longer than 107 bytes (108)"),
        ("", "malformed path: empty path"),
    ])
    func malformed(path: String, reason: String) throws {
        #expect(try listen(["/**"], path, root: "/") == .deny(reason: reason))
        #expect(try open(["/**"], path) == .deny(reason: reason))
    }

    @Test func exactly107BytesIsFine() throws {
        let path = "/srv/portcullis/" + String(repeating: "x", count: 91)
        #expect(path.utf8.count == 107)
        #expect(try listen(["/srv/portcullis/*"], path).isAllowed)
    }

    @Test func listenMustLieUnderSocketRoot() throws {
        #expect(try listen(["/**"], "/tmp/x.sock") == .deny(reason: "/tmp/x.sock is outside socket_root /srv/portcullis"))
        #expect(try listen(["/**"], "/srv/portcullis") == .deny(reason: "/srv/portcullis is outside socket_root /srv/portcullis"))
        #expect(try listen(["/**"], "/srv/portcullis2/x.sock") == .deny(reason: "/srv/portcullis2/x.sock is outside socket_root /srv/portcullis"))
        #expect(try listen([], "/tmp/x.sock") == .deny(reason: "/tmp/x.sock is outside socket_root /srv/portcullis"))
        #expect(try listen(["/**"], "/tmp/x.sock", root: "/").isAllowed)
        // Open is not confined to socket_root: it connects to existing sockets the rules name.
        #expect(try open(["/run/postgresql/.s.PGSQL.5432"], "/run/postgresql/.s.PGSQL.5432").isAllowed)
    }

    @Test func denials() throws {
        #expect(try listen([], "/srv/portcullis/x.sock") == .deny(reason: "key alex has no permit_streamlocal_listen rules"))
        #expect(try open([], "/srv/x.sock") == .deny(reason: "key alex has no permit_streamlocal_open rules"))
        #expect(try listen(["/srv/portcullis/%k/*.sock"], "/srv/portcullis/x.sock") ==
            .deny(reason: "no permit_streamlocal_listen rule of key alex matches /srv/portcullis/x.sock"))
        #expect(try open(["/srv/portcullis/a.sock"], "/srv/portcullis/b.sock") ==
            .deny(reason: "no permit_streamlocal_open rule of key alex matches /srv/portcullis/b.sock"))
        // Listen rules do not grant open, nor the reverse.
        let entry = try makeEntry(streamListen: ["/srv/portcullis/**"])
        #expect(makePolicy([entry]).decide(.streamLocalOpen(path: "/srv/portcullis/a.sock"), key: entry, user: "alex") ==
            .deny(reason: "key alex has no permit_streamlocal_open rules"))
        let opener = try makeEntry(open: ["*:*"], streamOpen: ["/srv/portcullis/**"])
        #expect(makePolicy([opener]).decide(.streamLocalListen(path: "/srv/portcullis/a.sock"), key: opener, user: "alex") ==
            .deny(reason: "key alex has no permit_streamlocal_listen rules"))
    }
}
