@testable import PortcullisPolicy
import Testing

@Suite struct PathValidationTests {
    static let long = "/" + String(repeating: "a", count: 106)

    @Test("malformed request paths", arguments: [
        ("", "empty path"),
        ("relative.sock", "not absolute"),
        ("./x.sock", "not absolute"),
        ("/srv/./x.sock", "contains a \".\" component"),
        ("/srv/../etc/x.sock", "contains a \"..\" component"),
        ("/srv/portcullis/..", "contains a \"..\" component"),
        ("/srv//x.sock", "contains \"//\""),
        ("/srv/x/", "ends with \"/\""),
        ("/", "is the root directory"),
        ("/srv/x\0.sock", "contains a NUL byte"),
        (long + "b", "longer than 107 bytes (108)"),
        ("/srv/" + String(repeating: "é", count: 52), "longer than 107 bytes (109)"),
    ])
    func malformed(path: String, problem: String) {
        #expect(PathValidation.problem(in: path) == problem)
    }

    @Test("acceptable request paths", arguments: [
        long, "/x", "/srv/portcullis/a.sock", "/srv/.hidden.sock", "/srv/..x/y", "/srv/x..sock", "/srv/*/x", "/srv/**",
    ])
    func acceptable(path: String) {
        #expect(PathValidation.problem(in: path) == nil)
    }

    @Test func patternsFollowTheSameRulesWithoutTheLengthLimit() {
        #expect(PathValidation.problem(inPattern: "/a/" + String(repeating: "b", count: 200)) == nil)
        #expect(PathValidation.problem(inPattern: "/srv/**/x.sock") == nil)
        #expect(PathValidation.problem(inPattern: "/srv/**x/y") == "\"**\" must be a whole path component")
        #expect(PathValidation.problem(inPattern: "/srv/a**") == "\"**\" must be a whole path component")
        #expect(PathValidation.problem(inPattern: "/srv/***") == "\"**\" must be a whole path component")
        #expect(PathValidation.problem(inPattern: "srv/*") == "not absolute")
        #expect(PathValidation.problem(inPattern: "/srv/../*") == "contains a \"..\" component")
        #expect(PathValidation.problem(inPattern: "/srv//*") == "contains \"//\"")
        #expect(PathValidation.problem(inPattern: "/srv/*/") == "ends with \"/\"")
    }

    @Test func roots() {
        #expect(PathValidation.problem(inRoot: "/")?.hasPrefix("is the root directory") == true)
        #expect(PathValidation.problem(inRoot: "/srv/portcullis") == nil)
        #expect(PathValidation.problem(inRoot: "/srv/portcullis/") == "ends with \"/\"")
        #expect(PathValidation.problem(inRoot: "srv") == "not absolute")
        #expect(PathValidation.problem(inRoot: "/srv/../etc") == "contains a \"..\" component")
        #expect(PathValidation.problem(inRoot: "/srv//p") == "contains \"//\"")
        #expect(PathValidation.path("/srv/p/x", isUnder: "/srv/p"))
        #expect(!PathValidation.path("/srv/p", isUnder: "/srv/p"))
        #expect(!PathValidation.path("/srv/portcullis2/x", isUnder: "/srv/portcullis"))
        #expect(PathValidation.path("/x", isUnder: "/"))
    }
}

@Suite struct PathPatternTests {
    func matches(_ pattern: String, _ path: String, key: String = "alex", user: String = "alex") throws -> Bool {
        try PathPattern(pattern).matches(path, keyName: key, userName: user)
    }

    @Test func starAndQuestionMarkNeverCrossSlash() throws {
        #expect(try matches("/srv/*.sock", "/srv/a.sock"))
        #expect(try !matches("/srv/*.sock", "/srv/a/b.sock"))
        #expect(try !matches("/srv/*", "/srv/a/b"))
        #expect(try matches("/srv/?.sock", "/srv/a.sock"))
        #expect(try !matches("/srv/a?b", "/srv/a/b"))
        #expect(try !matches("/srv/*", "/srv"))
        #expect(try matches("/*/*/x", "/a/b/x"))
    }

    @Test func doubleStarMatchesWholeComponents() throws {
        #expect(try matches("/srv/**/x.sock", "/srv/x.sock"))
        #expect(try matches("/srv/**/x.sock", "/srv/a/x.sock"))
        #expect(try matches("/srv/**/x.sock", "/srv/a/b/c/x.sock"))
        #expect(try !matches("/srv/**/x.sock", "/srv/a/b/y.sock"))
        #expect(try !matches("/srv/**/x.sock", "/other/x.sock"))
        #expect(try matches("/srv/**", "/srv/a/b"))
        #expect(try matches("/srv/**", "/srv"))
        #expect(try matches("/**", "/anything/at/all"))
        #expect(try matches("/srv/**/**/x", "/srv/x"))
        #expect(try matches("/srv/**/a/**/b", "/srv/a/a/b/b"))
        #expect(try !matches("/srv/**/a/**/b", "/srv/b/a"))
        #expect(try matches("/srv/**/*.sock", "/srv/q/r/s.sock"))
    }

    @Test func substitutions() throws {
        #expect(try matches("/srv/%k/*.sock", "/srv/alex/vnc.sock"))
        #expect(try !matches("/srv/%k/*.sock", "/srv/bob/vnc.sock"))
        #expect(try matches("/srv/%u/x", "/srv/bob/x", user: "bob"))
        #expect(try matches("/srv/%k-%u/x", "/srv/alex-bob/x", user: "bob"))
        #expect(try matches("/srv/100%%/x", "/srv/100%/x"))
        #expect(try !matches("/srv/100%%/x", "/srv/100%%/x"))
        // Substituted values are literal: a user named "*" matches only a component named "*".
        #expect(try matches("/srv/%u/x", "/srv/*/x", user: "*"))
        #expect(try !matches("/srv/%u/x", "/srv/bob/x", user: "*"))
        #expect(try !matches("/srv/%u/x", "/srv/a/x", user: "?"))
        // A user name with "/" cannot span components.
        #expect(try !matches("/srv/%u/x", "/srv/a/b/x", user: "a/b"))
        #expect(try !matches("/srv/%u.sock", "/srv/a/b.sock", user: "a/b"))
    }

    @Test("invalid patterns", arguments: [
        ("srv/*.sock", "not absolute"), ("/srv/../x", "contains a \"..\" component"), ("/srv/./x", "contains a \".\" component"),
        ("/srv//x", "contains \"//\""), ("/srv/x/", "ends with \"/\""), ("/srv/**.sock", "\"**\" must be a whole path component"),
        ("/srv/%x", "unknown substitution %x (use %k, %u or %%)"), ("/srv/%", "trailing % (use %% for a literal %)"), ("", "empty path"),
    ])
    func invalid(pattern: String, message: String) {
        #expect(throws: PatternError(message)) { try PathPattern(pattern) }
    }

    @Test func canMatchUnderRoot() throws {
        #expect(try PathPattern("/srv/portcullis/%k/*.sock").canMatch(under: "/srv/portcullis"))
        #expect(try PathPattern("/srv/*/x.sock").canMatch(under: "/srv/portcullis"))
        #expect(try PathPattern("/**/x.sock").canMatch(under: "/srv/portcullis"))
        #expect(try PathPattern("/tmp/x.sock").canMatch(under: "/"))
        #expect(try !PathPattern("/tmp/*.sock").canMatch(under: "/srv/portcullis"))
        #expect(try !PathPattern("/srv/portcullis").canMatch(under: "/srv/portcullis"))
        #expect(try !PathPattern("/srv/*").canMatch(under: "/srv/portcullis"))
        #expect(try !PathPattern("/srv/portcullis2/x").canMatch(under: "/srv/portcullis"))
    }
}
