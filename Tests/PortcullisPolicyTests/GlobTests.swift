@testable import PortcullisPolicy
import Testing

@Suite struct GlobTests {
    @Test("matching", arguments: [
        ("*", "", true), ("*", "anything", true), ("?", "", false), ("?", "x", true), ("?", "xy", false),
        ("a*b", "ab", true), ("a*b", "axxb", true), ("a*b", "axxbc", false), ("a*b*c", "abxbxc", true),
        ("*.sock", "vnc.sock", true), ("*.sock", "vnc.sock.bak", false), ("a?c", "abc", true), ("a?c", "ac", false),
        ("**", "x", true), ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false), ("abc", "abc", true), ("abc", "ABC", false),
        ("é?", "éa", true), ("?", "é", true),
    ])
    func matches(pattern: String, text: String, expected: Bool) throws {
        #expect(try Glob(pattern).matches(text) == expected)
    }

    @Test func caseInsensitive() throws {
        let glob = try Glob("LocalHost", caseInsensitive: true)
        #expect(glob.matches("localhost") && glob.matches("LOCALHOST"))
        #expect(try Glob("127.0.0.*", caseInsensitive: true).matches("127.0.0.1"))
    }

    @Test func placeholdersAreLiteral() throws {
        let glob = try Glob("%k-%u-%%.sock", placeholders: true)
        #expect(glob.matches("alex-bob-%.sock", keyName: "alex", userName: "bob"))
        #expect(!glob.matches("alex-bob-%.sock", keyName: "alex", userName: "b*"))
        // A user name full of glob characters matches only itself.
        let star = try Glob("%u.sock", placeholders: true)
        #expect(star.matches("*?.sock", userName: "*?"))
        #expect(!star.matches("ab.sock", userName: "*?"))
        // Without placeholders, % is an ordinary character.
        #expect(try Glob("%k").matches("%k"))
    }

    @Test("bad escapes", arguments: [("%x", "unknown substitution %x (use %k, %u or %%)"), ("a%", "trailing % (use %% for a literal %)")])
    func badEscape(pattern: String, message: String) {
        #expect(throws: PatternError(message)) { try Glob(pattern, placeholders: true) }
    }
}
