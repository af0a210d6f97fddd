import Testing
@testable import PortcullisServer

/// Request fields are decoded strictly and named, when they are not text, with their bytes escaped.
@Suite struct WireTextTests {
    @Test func invalidUTF8IsRefusedNeverRepaired() {
        #expect(WireText.utf8([0xff, 0xfe] + Array(".sock".utf8)) == nil)
        #expect(WireText.utf8(Array("/srv/p/alex/café.sock".utf8)) == "/srv/p/alex/café.sock")
        #expect(WireText.utf8([0xc3]) == nil)  // a sequence cut short
        #expect(WireText.utf8([0xed, 0xa0, 0x80]) == nil)  // an encoded surrogate
        #expect(WireText.utf8([]) == "")
    }

    @Test func escapingKeepsPrintableASCIIAndNamesEveryOtherByte() {
        #expect(WireText.escaped([0xff, 0xfe] + Array(".sock".utf8)) == "\\xff\\xfe.sock")
        #expect(WireText.escaped(Array("web.sock".utf8) + [0] + Array("x".utf8)) == "web.sock\\x00x")
        #expect(WireText.escaped(Array("a\\x41\"b".utf8)) == "a\\\\x41\\\"b")
        #expect(WireText.escaped(Array("é\n\t\u{7f}".utf8)) == "\\xc3\\xa9\\x0a\\x09\\x7f")
        #expect(!WireText.escaped([0xff, 0xfe]).contains("\u{FFFD}"))
    }

    @Test func aFieldIsReadWholeFromItsCString() {
        let bytes: [CChar] = [0x61, -1, 0x62, 0]
        bytes.withUnsafeBufferPointer { #expect(WireText.bytes($0.baseAddress) == [0x61, 0xff, 0x62]) }
        #expect(WireText.bytes(nil) == [])
    }
}
