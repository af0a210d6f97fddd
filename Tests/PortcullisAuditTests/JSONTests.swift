import Foundation
import PortcullisAudit
import Testing

@Suite struct JSONTests {
    @Test func recordLineHasStableKeyOrder() {
        let record = AuditRecord(ts: "2026-11-25T21:03:04.123456Z", seq: 7, event: "forward_requested", session: 3,
                                 fields: [JSONMember("kind", "streamlocal-listen"), JSONMember("target", "/s/a.sock"),
                                          JSONMember("decision", "allow"), JSONMember("rule", ["file": "k.yaml", "line": 4])],
                                 prev: AuditChain.genesis)
        #expect(String(decoding: record.line, as: UTF8.self) == """
            {"ts":"2026-11-25T21:03:04.123456Z","seq":7,"event":"forward_requested","session":3,\
            "kind":"streamlocal-listen","target":"/s/a.sock","decision":"allow","rule":{"file":"k.yaml","line":4},\
            "prev":"\(AuditChain.genesis)"}
            """)
    }

    @Test func daemonRecordHasNoSession() throws {
        let record = AuditRecord(ts: "2026-11-25T21:03:04.000000Z", seq: 1, event: "daemon_started", session: nil,
                                 fields: [JSONMember("version", "0.1")], prev: AuditChain.genesis)
        let text = String(decoding: record.line, as: UTF8.self)
        #expect(!text.contains("session"))
        #expect(try AuditRecord(line: record.line) == record)
    }

    @Test func escapingRoundTrips() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} del \u{7F} é 日本 🔑 / end"
        let value: JSONValue = ["s": .string(tricky), "n": nil, "t": true, "f": false, "i": -42, "big": .int(Int64.max),
                                "d": 1.5, "a": [1, "two", [:], []], "o": ["z": 1, "a": 2]]
        let text = value.jsonText
        #expect(text.contains(#"quote \" backslash \\ newline \n tab \t cr \r nul \u0000 bell \u0007 del \u007f é 日本 🔑 / end"#))
        #expect(!text.contains("\n"))
        #expect(try JSONValue.parse(text) == value)
        #expect(try JSONValue.parse(text).jsonText == text)
        #expect(value["o"]?.jsonText == #"{"z":1,"a":2}"#)
    }

    @Test func parserAcceptsStandardEscapesAndRejectsBadInput() throws {
        #expect(try JSONValue.parse(#" {"a" : "\u00e9\ud83d\udd11\/\b\f" , "b":[ 1e3 , -0.5 ] } "#)
            == ["a": "é🔑/\u{8}\u{C}", "b": [1000.0, -0.5]])
        for bad in [#"{"a":1"#, #"{"a":01}"#, #"{"a":"\x"}"#, "{\"a\":\"\n\"}", #"[1,]"#, #"{"a":1} x"#,
                    #""\ud800""#, "tru", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
    }

    @Test func recordParsingNamesWhatIsMissing() {
        #expect(throws: AuditRecordError.missing("prev")) {
            try AuditRecord(line: Array(#"{"ts":"x","seq":1,"event":"e"}"#.utf8))
        }
        #expect(throws: AuditRecordError.missing("seq")) {
            try AuditRecord(line: Array(#"{"ts":"x","seq":"1","event":"e","prev":""}"#.utf8))
        }
    }

    @Test func timestampsHaveMicroseconds() {
        let date = Date(timeIntervalSince1970: 1_795_640_584.123456)
        let text = AuditTimestamp.string(from: date)
        #expect(text == "2026-11-25T21:03:04.123456Z")
        #expect(AuditTimestamp.date(from: text).map { abs($0.timeIntervalSince(date)) < 1e-6 } == true)
        #expect(AuditTimestamp.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
        #expect(AuditTimestamp.date(from: "2026-11-25T21:03:04Z") == nil)
    }
}
