@testable import PortcullisPolicy
import Foundation
import Testing

/// What the fuzz harnesses (Fuzz/) found in the pattern compilers, each kept as a regression test.
@Suite struct FuzzFindingsTests {
    /// A `*` after a literal ending in byte 0x02 (the value of the "any" instruction) was dropped:
    /// "a\u{02}*" compiled as "a\u{02}" (fuzz-glob, input "%?\u{02}*?").
    @Test func starAfterALiteralEndingInByteTwo() throws {
        let glob = try Glob("a\u{02}*")
        #expect(glob.matches("a\u{02}"))
        #expect(glob.matches("a\u{02}xyz"))
        #expect(try Glob("%?\u{02}*?").matches("%1\u{02}any1"))
        // Consecutive stars still compile to one.
        #expect(try Glob("a**b").program == Glob("a*b").program)
    }

    /// A component starting with a combining mark was glued to the one before it ("/" and the
    /// mark are one Character), so the pattern could never match, not even its own text
    /// (fuzz-path-pattern, input "/\u{5A2}\u{FFFD}\u{FFFD}").
    @Test func componentStartingWithACombiningMark() throws {
        for text in ["/\u{5A2}x", "/srv/p/\u{301}web.sock", "/srv/**/\u{301}*.sock"] {
            let pattern = try PathPattern(text)
            let own = text.replacingOccurrences(of: "*", with: "x")
            #expect(pattern.matches(own, keyName: "k", userName: "u"), "\(text)")
        }
        #expect(try PathPattern("/srv/p/\u{301}x/y").canMatch(under: "/srv/p"))
    }

    /// "[[a]:1" was a listen address with host "[a", printed as "[a:1", which does not parse
    /// (fuzz-address-patterns: what parses must print back to text that parses to the same value).
    @Test func bracketInsideABracketedHost() throws {
        #expect(throws: PatternError.self) { try ListenAddress("[[a]:1") }
        #expect(throws: PatternError.self) { try OpenRule("[[::1]:22", location: SourceLocation(file: "f", line: 1)) }
        #expect(try ListenAddress("[::1]:22").description == "[::1]:22")
    }
}
