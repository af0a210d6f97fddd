import PortcullisPolicy
import Testing

/// Bytes from outside are named exactly: valid UTF-8 as it is, everything else `\xNN`, never U+FFFD.
@Suite struct EscapedBytesTests {
    @Test func invalidBytesAndControlCharactersAreNamedEachByte() {
        #expect(escapedBytes([0xff, 0xfe] + Array(".sock".utf8)) == "\\xff\\xfe.sock")
        #expect(escapedBytes(Array("web.sock".utf8) + [0] + Array("x".utf8)) == "web.sock\\x00x")
        #expect(escapedBytes(Array("\n\t\u{7f}\u{85}".utf8)) == "\\x0a\\x09\\x7f\\xc2\\x85")
        #expect(escapedBytes([0xc3]) == "\\xc3")  // a sequence cut short
        #expect(escapedBytes([0xed, 0xa0, 0x80]) == "\\xed\\xa0\\x80")  // an encoded surrogate
        #expect(!escapedBytes([0xff, 0xfe]).contains("\u{FFFD}"))
    }

    @Test func textStaysTextAndCanStandBetweenQuotes() {
        #expect(escapedBytes(Array("/srv/p/alex/café.sock".utf8)) == "/srv/p/alex/café.sock")
        #expect(escapedBytes(Array("a\\x41\"b".utf8)) == "a\\\\x41\\\"b")
        #expect(escapedBytes([UInt8]()) == "")
    }

    @Test func differentBytesNeverReadTheSame() {
        #expect(escapedBytes(Array("\\xff".utf8)) != escapedBytes([0xff]))
        #expect(escapedBytes(Array("\u{FFFD}".utf8)) != escapedBytes([0xff]))
    }
}
