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

    @Test func aFieldThatIsNotTextNamesTheRequestTheFieldAndItsBytes() {
        let path: [CChar] = Array("/srv/p/alex/".utf8CString.dropLast()) + [-1, -2] + Array(".sock".utf8CString)
        let decoded = path.withUnsafeBufferPointer {
            WireText.decode($0.baseAddress, named: "socket path", of: "streamlocal-forward@openssh.com", limit: 4095)
        }
        #expect(decoded == .failure(.init(
            escaped: "/srv/p/alex/\\xff\\xfe.sock",
            reason: "malformed streamlocal-forward@openssh.com: socket path is not valid UTF-8: \"/srv/p/alex/\\xff\\xfe.sock\"")))
        #expect(WireText.decode(nil, named: "host", of: "direct-tcpip", limit: 255) == .success(""))
    }

    @Test func aFieldIsReadWholeFromItsCString() {
        let bytes: [CChar] = [0x61, -1, 0x62, 0]
        bytes.withUnsafeBufferPointer { #expect(WireText.bytes($0.baseAddress) == [0x61, 0xff, 0x62]) }
        #expect(WireText.bytes(nil) == [])
    }

    @Test func aFieldLongerThanItsKindAllowsIsRefusedAndNamedCapped() {
        let host = [CChar](repeating: 0x61, count: 60_000) + [0]
        let decoded = host.withUnsafeBufferPointer {
            WireText.decode($0.baseAddress, named: "host", of: "direct-tcpip", limit: WireText.hostLimit)
        }
        guard case .failure(let bad) = decoded else { Issue.record("accepted"); return }
        #expect(bad.reason == "malformed direct-tcpip: host is longer than 255 bytes (60000)")
        #expect(bad.escaped == String(repeating: "a", count: 256) + "…(cut, 60000 bytes)")
        let fits = [CChar](repeating: 0x61, count: 255) + [0]
        #expect(fits.withUnsafeBufferPointer {
            WireText.decode($0.baseAddress, named: "host", of: "direct-tcpip", limit: WireText.hostLimit)
        } == .success(String(repeating: "a", count: 255)))
    }
}
