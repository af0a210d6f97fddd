import Foundation
import Testing
@testable import PortcullisServer

/// The control socket's request lines: what is accepted, and the reason for what is not.
@Suite struct ControlProtocolTests {
    private func parse(_ text: String) -> Result<ControlProtocol.Command, ControlProtocol.RequestError> {
        ControlProtocol.parse(Data(text.utf8))
    }

    private func error(_ text: String) -> String? {
        if case .failure(let error) = parse(text) { return error.description }
        return nil
    }

    @Test func theFourCommandsAreRead() throws {
        #expect(try parse(#"{"v":1,"cmd":"status"}"#).get() == .status)
        #expect(try parse(#"{"v":1,"cmd":"sessions"}"#).get() == .sessions(key: nil))
        #expect(try parse(#"{"cmd":"sessions","v":1,"key":"alex"}"#).get() == .sessions(key: "alex"))
        #expect(try parse(#"{"v":1,"cmd":"disconnect","session":42}"#).get() == .disconnect(.session(42)))
        #expect(try parse(#"{"v":1,"cmd":"disconnect","key":"alex"}"#).get() == .disconnect(.key("alex")))
        #expect(try parse(#"{"v":1,"cmd":"reload"}"#).get() == .reload)
    }

    @Test func whatTheClientSendsIsWhatTheServerReads() throws {
        let commands: [ControlProtocol.Command] = [.status, .sessions(key: nil), .sessions(key: "a b"),
                                                   .disconnect(.session(UInt64(Int64.max))), .disconnect(.key("alex")), .reload]
        for command in commands {
            let line = ControlProtocol.request(command)
            #expect(line.last == 0x0A)
            #expect(try ControlProtocol.parse(line.dropLast()).get() == command)
        }
    }

    @Test func badRequestsAreRefusedWithWhatIsWrong() {
        #expect(error("status") == "request is not a JSON object on one line")
        #expect(error("[1]") == "request is not a JSON object on one line")
        #expect(error(#"{"cmd":"status"}"#) == #"missing "v": the protocol version (1)"#)
        #expect(error(#"{"v":2,"cmd":"status"}"#) == "protocol version 2 is not supported (this daemon speaks 1)")
        #expect(error(#"{"v":"1","cmd":"status"}"#) == #"missing "v": the protocol version (1)"#)
        #expect(error(#"{"v":true,"cmd":"status"}"#) == #"missing "v": the protocol version (1)"#)
        #expect(error(#"{"v":1}"#) == #"missing "cmd""#)
        #expect(error(#"{"v":1.0,"cmd":"status"}"#) == #"missing "v": the protocol version (1)"#)
        #expect(error(#"{"v":1e0,"cmd":"status"}"#) == #"missing "v": the protocol version (1)"#)
        #expect(error(#"{"v":1,"cmd":"status","cmd":"reload"}"#) == #"field "cmd" given twice"#)
        #expect(error(#"{"v":1,"v":1,"cmd":"status"}"#) == #"field "v" given twice"#)
        #expect(error(#"{"v":1,"cmd":"disconnect","session":1.0}"#) == #""session" must be a session id (a positive integer)"#)
        #expect(error(#"{"v":1,"cmd":"shutdown"}"#) == #"unknown command "shutdown" (status, sessions, disconnect, reload)"#)
        #expect(error(#"{"v":1,"cmd":"status","force":true}"#) == #"unknown field "force""#)
        #expect(error(#"{"v":1,"cmd":"status","key":"alex"}"#) == #""key" does not apply to status"#)
        #expect(error(#"{"v":1,"cmd":"disconnect"}"#) == #"disconnect needs exactly one of "session" and "key""#)
        #expect(error(#"{"v":1,"cmd":"disconnect","session":1,"key":"a"}"#) == #"disconnect needs exactly one of "session" and "key""#)
        #expect(error(#"{"v":1,"cmd":"disconnect","session":-1}"#) == #""session" must be a session id (a positive integer)"#)
        #expect(error(#"{"v":1,"cmd":"disconnect","session":1.5}"#) == #""session" must be a session id (a positive integer)"#)
        #expect(error(#"{"v":1,"cmd":"disconnect","session":"1"}"#) == #""session" must be a session id (a positive integer)"#)
        #expect(error(#"{"v":1,"cmd":"sessions","key":""}"#) == #""key" must be a key name"#)
        let long = #"{"v":1,"cmd":"status","pad":""# + String(repeating: "x", count: ControlProtocol.maxLineBytes) + #""}"#
        #expect(error(long) == "request longer than \(ControlProtocol.maxLineBytes) bytes")
    }

    @Test func responsesRoundTripInSnakeCase() throws {
        let response = ControlResponse(ok: true, sessions: [ControlSession(
            id: 3, key: "alex", user: "alex", client: "127.0.0.1:1", started: "2026-12-01T20:00:00Z", idleSeconds: 1.5,
            listens: ["/srv/a.sock"], channels: [ControlChannel(id: 1, kind: "tcp-open", target: "127.0.0.1:5432",
                                                               opened: "2026-12-01T20:00:01Z", bytesToClient: 10,
                                                               bytesFromClient: 20)])])
        let line = ControlProtocol.line(response)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasSuffix("}\n") && !text.dropLast().contains("\n"))
        #expect(text.contains(#""bytes_to_client":10"#) && text.contains(#""idle_seconds":1.5"#))
        #expect(try ControlProtocol.decoder.decode(ControlResponse.self, from: line.dropLast()) == response)
        let failure = String(decoding: ControlProtocol.line(.failure("no session 9")), as: UTF8.self)
        #expect(failure == #"{"error":"no session 9","ok":false,"v":1}"# + "\n")
    }
}
