import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// The session's decisions without libssh or sockets: each interleaving of requests gives the
/// actions in the order the worker carries them out.
@Suite struct SessionCoreTests {
    private static let alex = PublicKey(algorithm: "ssh-ed25519", base64: "AAAAalex", fingerprint: "SHA256:alex")
    private static let stranger = PublicKey(algorithm: "ssh-ed25519", base64: "AAAAother", fingerprint: "SHA256:other")

    /// Admits alex (unless revoked); alex may listen on TCP 8080 and under /srv/alex/.
    private final class Authority: SessionAuthority, @unchecked Sendable {
        var revoked = false
        /// Also: open `db.internal:5432` by name, `127.0.0.1:*`, and port 22 on addresses in 10.0.0.0/8
        /// (a CIDR rule: a name for port 22 is resolved to decide).
        struct Rules: SessionRules {
            let keyName = "alex"
            func decide(_ request: ForwardRequest) -> Decision {
                switch request {
                case .tcpListen(_, 8080), .tcpListen(_, 0): .allow(rule: .at("test.yaml", 1, "localhost:8080"))
                case .streamLocalListen(let path) where path.hasPrefix("/srv/alex/"): .allow(rule: .at("test.yaml", 2, "/srv/alex/*"))
                case .tcpOpen("db.internal", 5432): .allow(rule: .at("test.yaml", 3, "db.internal:5432"))
                case .tcpOpen("127.0.0.1", _): .allow(rule: .at("test.yaml", 4, "127.0.0.1:*"))
                default: .deny(reason: "no rule for \(request.target)")
                }
            }
            func decideOpen(host: String, port: Int, resolvedAddresses: [String]) -> (Decision, [String]) {
                let byName = decide(.tcpOpen(host: host, port: port))
                if byName.isAllowed { return (byName, resolvedAddresses) }
                let inside = port == 22 ? resolvedAddresses.filter { $0.hasPrefix("10.") } : []
                return inside.isEmpty ? (byName, []) : (.allow(rule: .at("test.yaml", 5, "10.0.0.0/8:22")), inside)
            }
            func mayAllowOnceResolved(host: String, port: Int) -> Bool { port == 22 }
        }
        func admit(user: String, key: PublicKey, client: Endpoint) -> Admission {
            guard key == SessionCoreTests.alex else { return .refused(reason: "unknown key") }
            return revoked ? .refused(reason: "expired", keyName: "alex") : .admitted(Rules())
        }
    }

    private func makeCore(maxAuthTries: Int = 6) -> SessionCore {
        SessionCore(session: 7, client: Endpoint(host: "127.0.0.1", port: 5555), maxAuthTries: maxAuthTries)
    }

    /// The actions as short words, e.g. ["record auth-refused", "answer authFailure", "close"].
    private func words(_ actions: [SessionCore.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .record(let event): "record \(Self.name(event))"
            case .answer(let answer): "answer \(answer)"
            case .bind(let request, _): "bind \(request)"
            case .unbind(let request): "unbind \(request)"
            case .close(let reason, _): "close: \(reason)"
            }
        }
    }

    private static func name(_ event: ServerEvent) -> String {
        switch event {
        case .authenticated: "authenticated"
        case .authRefused(_, _, _, _, let reason): "auth-refused (\(reason))"
        case .forwardRequested(_, _, let decision, _, _): decision.isAllowed ? "requested allow" : "requested deny"
        case .forwardBound: "bound"
        case .forwardFailed(_, _, let reason, _): "failed (\(reason))"
        case .forwardCancelled: "cancelled"
        case .requestMalformed(_, let kind, _, let reason): "malformed \(kind) (\(reason))"
        default: "\(event)"
        }
    }

    private func authenticated(_ authority: Authority = Authority()) -> SessionCore {
        var core = makeCore()
        _ = core.authenticate(user: "alex", method: .publicKey(Self.alex, signature: .valid), authority: authority)
        return core
    }

    @Test func aProbeIsAnsweredUnrecordedAndTheSignedAttemptIsRecordedBeforeSuccess() {
        var core = makeCore()
        let authority = Authority()
        #expect(words(core.authenticate(user: "alex", method: .publicKey(Self.alex, signature: .absent),
                                         authority: authority)) == ["answer authKeyAcceptable"])
        #expect(!core.isAuthenticated)
        #expect(words(core.authenticate(user: "alex", method: .publicKey(Self.alex, signature: .valid),
                                         authority: authority)) == ["record authenticated", "answer authSuccess"])
        #expect(core.isAuthenticated)
        #expect(core.login?.user == "alex")
    }

    @Test func everyFailedAttemptCountsAndTheLastOneClosesAtOnce() {
        var core = makeCore(maxAuthTries: 3)
        let authority = Authority()
        let attempt = SessionCore.AuthMethod.publicKey(Self.stranger, signature: .valid)
        #expect(words(core.authenticate(user: "x", method: attempt, authority: authority))
                == ["record auth-refused (unknown key)", "answer authFailure"])
        #expect(words(core.authenticate(user: "x", method: .other("password"), authority: authority))
                == ["record auth-refused (password authentication is not offered)", "answer authFailure"])
        #expect(words(core.authenticate(user: "x", method: .publicKey(Self.alex, signature: .invalid), authority: authority))
                == ["record auth-refused (invalid signature)", "answer authFailure", "close: too many authentication failures"])
        // Pipelined attempts after that get nothing, not even a record.
        #expect(core.authenticate(user: "alex", method: .publicKey(Self.alex, signature: .valid), authority: authority).isEmpty)
        #expect(!core.isAuthenticated)
        #expect(core.authFailures == 3)
    }

    @Test func aFirstNoneIsFreeButRepeatedOnesCount() {
        var core = makeCore(maxAuthTries: 2)
        let authority = Authority()
        #expect(words(core.authenticate(user: "x", method: .none, authority: authority)) == ["answer authFailure"])
        #expect(words(core.authenticate(user: "x", method: .none, authority: authority))
                == ["record auth-refused (none authentication is not offered)", "answer authFailure"])
        #expect(words(core.authenticate(user: "x", method: .none, authority: authority)).last
                == "close: too many authentication failures")
    }

    @Test func nothingIsListenedForBeforeAuthentication() {
        var core = makeCore()
        #expect(words(core.listen(.tcpListen(host: "localhost", port: 8080))) == ["answer requestFailure"])
        #expect(core.listens.isEmpty)
    }

    @Test func anAllowedListenIsRecordedBoundThenAnswered() {
        var core = authenticated()
        let request = ForwardRequest.streamLocalListen(path: "/srv/alex/web.sock")
        #expect(words(core.listen(request)) == ["record requested allow", "bind \(request)"])
        #expect(words(core.listenBound(request, bound: "/srv/alex/web.sock", port: 0))
                == ["record bound", "answer requestSuccess(port: 0)"])
        #expect(core.listens == [request])
    }

    @Test func aDeniedListenIsRecordedThenRefused() {
        var core = authenticated()
        #expect(words(core.listen(.streamLocalListen(path: "/srv/blake/x.sock")))
                == ["record requested deny", "answer requestFailure"])
        #expect(core.listens.isEmpty)
    }

    @Test func theSameListenTwiceIsRefusedWithAReason() {
        var core = authenticated()
        let request = ForwardRequest.tcpListen(host: "localhost", port: 8080)
        _ = core.listen(request)
        #expect(words(core.listen(request))
                == ["record requested allow", "record failed (already forwarded in this session)", "answer requestFailure"])
    }

    @Test func aListenThatFailedToBindCanBeAskedAgain() {
        var core = authenticated()
        let request = ForwardRequest.tcpListen(host: "localhost", port: 8080)
        _ = core.listen(request)
        #expect(words(core.listenFailed(request, reason: "bind: Address in use"))
                == ["record failed (bind: Address in use)", "answer requestFailure"])
        #expect(words(core.listen(request)) == ["record requested allow", "bind \(request)"])
    }

    @Test func aCancelUnbindsRecordsAndAnswersOnlyWhatTheSessionHolds() {
        var core = authenticated()
        let request = ForwardRequest.tcpListen(host: "localhost", port: 8080)
        #expect(words(core.cancel(request)) == ["answer requestFailure"])
        _ = core.listen(request)
        _ = core.listenBound(request, bound: "127.0.0.1:8080", port: 8080)
        #expect(words(core.cancel(request)) == ["unbind \(request)", "record cancelled", "answer requestSuccess(port: 0)"])
        #expect(core.listens.isEmpty)
        #expect(words(core.listen(request)) == ["record requested allow", "bind \(request)"])
    }

    @Test func aDynamicPortListenIsCancelledByItsAllocatedPortAsOpenSSHsClientSendsIt() {
        var core = authenticated()
        let request = ForwardRequest.tcpListen(host: "127.0.0.1", port: 0)
        _ = core.listen(request)
        _ = core.listenBound(request, bound: "127.0.0.1:40123", port: 40123)
        #expect(words(core.cancel(.tcpListen(host: "127.0.0.1", port: 40124))) == ["answer requestFailure"])
        #expect(words(core.cancel(.tcpListen(host: "::1", port: 40123))) == ["answer requestFailure"])
        #expect(words(core.cancel(.tcpListen(host: "127.0.0.1", port: 40123)))
                == ["unbind \(request)", "record cancelled", "answer requestSuccess(port: 0)"])
        #expect(core.listens.isEmpty)
        // By the port requested, as before.
        _ = core.listen(request)
        _ = core.listenBound(request, bound: "127.0.0.1:40200", port: 40200)
        #expect(words(core.cancel(request)) == ["unbind \(request)", "record cancelled", "answer requestSuccess(port: 0)"])
    }

    @Test func aDynamicPortListenCarriesTheRangesTheRulesAllow() {
        var core = authenticated()
        let actions = core.listen(.tcpListen(host: "localhost", port: 0))
        guard case .bind(_, let ranges) = actions.last else {
            Issue.record("expected a bind, got \(words(actions))")
            return
        }
        #expect(ranges == nil)
    }

    @Test func aReloadThatRevokesTheKeyEndsTheSession() {
        let authority = Authority()
        var core = authenticated(authority)
        #expect(core.rulesChanged(authority: authority).isEmpty)
        authority.revoked = true
        #expect(words(core.rulesChanged(authority: authority)) == ["close: key no longer admitted after reload: expired"])
        #expect(core.listen(.tcpListen(host: "localhost", port: 8080)).isEmpty)
    }

    @Test func theLoginGraceTimeEndsOnlyAnUnauthenticatedSession() {
        var waiting = makeCore()
        #expect(words(waiting.loginGraceExpired()) == ["close: login grace time exceeded"])
        var done = authenticated()
        #expect(done.loginGraceExpired().isEmpty)
    }

    @Test func anOpenNoRuleCouldAllowIsRefusedWithoutALookup() {
        let core = authenticated()
        guard case .refuse(let decision) = core.planTCPOpen(host: "x.invalid", port: 80, numericAddress: nil) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(decision == .deny(reason: "no rule for x.invalid:80"))
    }

    @Test func aNameAllowedAsRequestedIsRecordedThenResolvedToConnect() {
        let core = authenticated()
        #expect(core.planTCPOpen(host: "db.internal", port: 5432, numericAddress: nil)
                == .resolveToConnect(.allow(rule: .at("test.yaml", 3, "db.internal:5432"))))
    }

    @Test func aNumericHostIsDecidedAndConnectedWithoutAResolver() {
        let core = authenticated()
        #expect(core.planTCPOpen(host: "127.0.0.1", port: 9, numericAddress: "127.0.0.1")
                == .connect(.allow(rule: .at("test.yaml", 4, "127.0.0.1:*")), addresses: ["127.0.0.1"]))
        #expect(core.planTCPOpen(host: "10.1.2.3", port: 22, numericAddress: "10.1.2.3")
                == .connect(.allow(rule: .at("test.yaml", 5, "10.0.0.0/8:22")), addresses: ["10.1.2.3"]))
        guard case .refuse = core.planTCPOpen(host: "192.0.2.1", port: 22, numericAddress: "192.0.2.1") else {
            Issue.record("an address outside every rule must be refused")
            return
        }
    }

    @Test func aNameOnlyAnAddressRuleCouldAllowIsDecidedOnItsAddresses() {
        let core = authenticated()
        #expect(core.planTCPOpen(host: "bastion.example", port: 22, numericAddress: nil) == .resolveToDecide)
        let (allowed, addresses) = core.decideResolved(host: "bastion.example", port: 22,
                                                        addresses: .success(["192.0.2.7", "10.0.0.7"]))
        #expect(allowed == .allow(rule: .at("test.yaml", 5, "10.0.0.0/8:22")))
        #expect(addresses == ["10.0.0.7"])
        let (outside, none) = core.decideResolved(host: "bastion.example", port: 22, addresses: .success(["192.0.2.7"]))
        #expect(!outside.isAllowed && none.isEmpty)
        let (failed, _) = core.decideResolved(host: "bastion.example", port: 22,
                                              addresses: .failure(.init(reason: "resolve bastion.example: no answer within 5 s")))
        #expect(failed == .deny(reason: "resolve bastion.example: no answer within 5 s"))
    }

    @Test func noOpenIsPlannedBeforeAuthentication() {
        let core = makeCore()
        guard case .refuse = core.planTCPOpen(host: "127.0.0.1", port: 9, numericAddress: "127.0.0.1") else {
            Issue.record("expected a refusal")
            return
        }
    }

    @Test func aMalformedListenIsRecordedWithItsReasonThenRefusedUndecided() {
        var core = authenticated()
        let reason = "malformed tcpip-forward: port 70000 is out of range (0..65535)"
        let actions = core.refuseMalformed(.init(kind: "tcp-listen", target: nil, reason: reason, isOpen: false))
        #expect(words(actions) == ["record malformed tcp-listen (\(reason))", "answer requestFailure"])
        #expect(core.listens.isEmpty)
    }

    @Test func aMalformedOpenIsRecordedThenRefusedWithTheReasonAsItsDescription() {
        var core = authenticated()
        let reason = "malformed direct-streamlocal@openssh.com: socket path is not valid UTF-8: \"\\xff\\xfe.sock\""
        let actions = core.refuseMalformed(.init(kind: "streamlocal-open", target: "\\xff\\xfe.sock", reason: reason,
                                                 isOpen: true))
        guard actions.count == 2,
              case .record(.requestMalformed(7, "streamlocal-open", "\\xff\\xfe.sock", reason)) = actions[0],
              case .answer(.openFailure(reason)) = actions[1] else {
            Issue.record("expected a record naming the escaped path, then a refusal with the reason: \(words(actions))")
            return
        }
    }

    @Test func noAnswerEverPrecedesTheRecordItDescribes() {
        var core = makeCore(maxAuthTries: 2)
        let authority = Authority()
        var all: [[SessionCore.Action]] = []
        all.append(core.authenticate(user: "x", method: .publicKey(Self.stranger, signature: .valid), authority: authority))
        all.append(core.authenticate(user: "alex", method: .publicKey(Self.alex, signature: .valid), authority: authority))
        let request = ForwardRequest.tcpListen(host: "localhost", port: 8080)
        all.append(core.listen(request))
        all.append(core.listenBound(request, bound: "127.0.0.1:8080", port: 8080))
        all.append(core.listen(.tcpListen(host: "localhost", port: 9)))
        all.append(core.cancel(request))
        all.append(core.refuseMalformed(.init(kind: "tcp-open", target: nil, reason: "malformed direct-tcpip: missing host",
                                              isOpen: true)))
        for actions in all {
            let list = words(actions)
            if let answer = list.firstIndex(where: { $0.hasPrefix("answer") }), list.contains(where: { $0.hasPrefix("record") }) {
                #expect(list[..<answer].contains { $0.hasPrefix("record") }, "answer before its record in \(list)")
                #expect(!list[answer...].contains { $0.hasPrefix("record") }, "a record after the answer in \(list)")
            }
        }
    }
}
