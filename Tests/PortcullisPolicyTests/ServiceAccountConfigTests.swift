import Testing
@testable import PortcullisPolicy

/// The top-level `user:` and `group:` (the account the daemon runs as), next to a key entry's own
/// `user:` (the SSH user a key may log in as), which is unrelated.
extension OperationsConfigTests {
    @Test func userAndGroupAreLookedUp() throws {
        let fixture = try Fixture(base + "user: nobody\ngroup: root\n")
        defer { fixture.directory.remove() }
        let account = try #require(try fixture.load().serviceAccount)
        #expect(account == ServiceAccount(user: "nobody", uid: 65534, group: "root", gid: 0))
    }

    @Test func groupDefaultsToTheUsersPrimaryGroupAndNumbersAreNames() throws {
        let fixture = try Fixture(base + "user: 0\n")
        defer { fixture.directory.remove() }
        #expect(try fixture.load().serviceAccount == ServiceAccount(user: "root", uid: 0, group: "root", gid: 0))
        let none = try Fixture(base)
        defer { none.directory.remove() }
        #expect(try none.load().serviceAccount == nil)
    }

    @Test func topLevelUserAndAKeysUserAreDistinct() throws {
        let fixture = try Fixture(base + """
            user: root
            keys:
              - name: alex
                key: \(alexKey)
                user: deploy

            """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.serviceAccount?.user == "root")
        #expect(config.keys.first?.user == "deploy")
    }

    @Test func unknownOrMalformedNamesAreRefusedAtTheirLine() throws {
        #expect(try Fixture(base + "user: no-such-user-portcullis\n").problems() == [
            "$DIR/portcullis.yaml:3: user \"no-such-user-portcullis\": no such user on this system",
        ])
        #expect(try Fixture(base + "user: nobody\n\ngroup: no-such-group-portcullis\n").problems() == [
            "$DIR/portcullis.yaml:5: group \"no-such-group-portcullis\": no such group on this system",
        ])
        #expect(try Fixture(base + "user: \"a:b\"\ngroup: \"-x\"\n").problems() == [
            "$DIR/portcullis.yaml:3: user \"a:b\": expected a user name or number",
            "$DIR/portcullis.yaml:4: group \"-x\": expected a group name or number",
        ])
        #expect(try Fixture(base + "user: [a, b]\n").problems().count == 1)
    }

    @Test func groupWithoutUserIsRefused() throws {
        #expect(try Fixture(base + "group: root\n").problems() == [
            "$DIR/portcullis.yaml:3: group \"root\": needs user (the account the daemon runs as); "
                + "without user the daemon keeps the user and groups it was started with",
        ])
    }
}
