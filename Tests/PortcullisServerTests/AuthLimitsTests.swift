import PortcullisPolicy
import Testing
@testable import PortcullisServer

/// Authentication as strict as sshd's: every attempt counts, a user name is bounded, and what a
/// client that has not logged in chose is capped wherever it is recorded.
@Suite struct AuthLimitsTests {
    private static let alex = PublicKey(algorithm: "ssh-ed25519", base64: "AAAAalex", fingerprint: "SHA256:alex")

    private struct Rules: SessionRules {
        let keyName = "alex"
        func decide(_ request: ForwardRequest) -> Decision { .deny(reason: "none") }
        func decideOpen(host: String, port: Int, resolvedAddresses: [String]) -> (Decision, [String]) {
            (.deny(reason: "none"), [])
        }
        func mayAllowOnceResolved(host: String, port: Int) -> Bool { false }
    }

    /// Admits alex's key for any user.
    private struct Authority: SessionAuthority {
        func admit(user: String, key: PublicKey, client: Endpoint) -> Admission {
            key == AuthLimitsTests.alex ? .admitted(Rules()) : .refused(reason: "unknown key")
        }
    }

    private func makeCore(maxAuthTries: Int = 6) -> SessionCore {
        SessionCore(session: 7, client: Endpoint(host: "127.0.0.1", port: 5555), maxAuthTries: maxAuthTries)
    }

    private func refusal(_ actions: [SessionCore.Action]) -> (user: String, reason: String)? {
        for case .record(.authRefused(_, let user, _, _, let reason)) in actions { return (user, reason) }
        return nil
    }

    @Test func aUserNameOver256BytesFailsTheAttemptAndIsRecordedCut() {
        var core = makeCore()
        let long = String(repeating: "a", count: 200_000)
        let actions = core.authenticate(user: long, method: .publicKey(Self.alex, signature: .valid), authority: Authority())
        let refused = refusal(actions)
        #expect(refused?.reason == "user name is 200000 bytes long; at most 256 are accepted")
        #expect(refused?.user == String(repeating: "a", count: 256) + "…(cut, 200000 bytes)")
        #expect(!core.isAuthenticated && core.authFailures == 1)
        // A probe with such a name is refused too, not answered "key acceptable".
        #expect(refusal(core.authenticate(user: long, method: .publicKey(Self.alex, signature: .absent),
                                          authority: Authority())) != nil)
        #expect(core.authFailures == 2)
    }

    @Test func a256ByteUserNameIsAccepted() {
        var core = makeCore()
        let name = String(repeating: "é", count: 128)
        #expect(name.utf8.count == 256)
        _ = core.authenticate(user: name, method: .publicKey(Self.alex, signature: .valid), authority: Authority())
        #expect(core.isAuthenticated && core.login?.user == name)
    }

    @Test func aUserNameThatIsNotUTF8OrHasControlsIsRefusedAndShownEscaped() {
        let (text, problem) = ClientText.userName([0x61, 0xFF, 0xFE, 0x5C, 0x62])
        #expect(problem == "user name is not valid UTF-8" && text == "a\\xff\\xfe\\\\b")
        #expect(ClientText.userName(Array("al\nex".utf8)) == ("al\\x0aex", "user name contains control characters"))
        #expect(ClientText.userName(Array("DOMAIN\\alex".utf8)) == ("DOMAIN\\alex", nil))
        var core = makeCore()
        let refused = refusal(core.authenticate(user: text, userProblem: problem, method: .publicKey(Self.alex, signature: .valid),
                                                authority: Authority()))
        #expect(refused?.reason == "user name is not valid UTF-8" && refused?.user == text)
        #expect(!core.isAuthenticated)
    }

    @Test func aKeyLibsshRefusedCountsAsAFailedAttempt() {
        var core = makeCore(maxAuthTries: 2)
        let first = core.authenticate(user: "alex", method: .refusedKey(Self.alex, reason: "signature algorithm ssh-rsa (SHA-1) is not accepted"),
                                      authority: Authority())
        #expect(refusal(first)?.reason == "signature algorithm ssh-rsa (SHA-1) is not accepted")
        let second = core.authenticate(user: "alex", method: .refusedKey(nil, reason: "unsupported key type x"), authority: Authority())
        #expect(second.contains { if case .close = $0 { true } else { false } })
    }

    @Test func pipelinedAttemptsPastTheLimitAreNeitherAnsweredNorRecorded() {
        var core = makeCore(maxAuthTries: 6)
        var records = 0
        var answers = 0
        for _ in 0..<200 {
            for action in core.authenticate(user: "mallory", method: .publicKey(Self.alex, signature: .invalid),
                                            authority: Authority()) {
                if case .record = action { records += 1 }
                if case .answer = action { answers += 1 }
            }
        }
        #expect(records == 6 && answers == 6)
        #expect(core.closeReason == "too many authentication failures")
    }

    @Test func cappingKeepsWholeCharactersAndSaysHowLongTheTextWas() {
        #expect(ClientText.capped("short") == "short")
        #expect(ClientText.capped(String(repeating: "x", count: 256)) == String(repeating: "x", count: 256))
        // 'é' is two bytes: 5 bytes allow two of them, not half of a third.
        #expect(ClientText.capped("ééééé", limit: 5) == "éé…(cut, 10 bytes)")
        // What was cut once stays as it is; a long text that only looks cut is cut.
        let once = ClientText.capped(String(repeating: "n", count: 1000))
        #expect(ClientText.capped(once) == once)
        let forged = String(repeating: "n", count: 300) + "…(cut, 9999 bytes)"
        #expect(ClientText.capped(forged) == String(repeating: "n", count: 256) + "…(cut, \(forged.utf8.count) bytes)")
    }

    @Test func recordsAndLogLinesCapWhatTheClientChose() {
        let long = String(repeating: "k", count: 100_000)
        let closed = ServerEvent.sessionClosed(session: 1, reason: "key exchange failed: client [\(long)]", duration: 0,
                                               channels: 0, bytesToClient: 0, bytesFromClient: 0)
        guard case .sessionClosed(_, let reason, _, _, _, _) = closed.withClientTextCapped else {
            Issue.record("not a session end")
            return
        }
        let original = "key exchange failed: client [\(long)]".utf8.count
        #expect(reason.utf8.count < 600 && reason.hasSuffix("…(cut, \(original) bytes)"))
        let forged = ServerEvent.sessionClosed(session: 1, reason: "kex failed: client [a\nportcullisd: forged]", duration: 0,
                                               channels: 0, bytesToClient: 0, bytesFromClient: 0)
        if case .sessionClosed(_, let reason, _, _, _, _) = forged.withClientTextCapped {
            #expect(reason == "kex failed: client [a\\x0aportcullisd: forged]")
        }
        let refused = ServerEvent.authRefused(session: 1, user: long, key: nil, keyName: nil, reason: "r")
        let record = refused.auditRecord
        let size = record.fields.reduce(0) { $0 + "\($1)".utf8.count }
        #expect(size < 1024)
    }
}
