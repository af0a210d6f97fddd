import PortcullisPolicy

/// What a session decides, apart from libssh and sockets: authentication (every attempt counted,
/// the login limits), remote listens and their cancels, and the order in which each outcome is
/// recorded and answered. It takes what the client asked (or what the I/O layer did) and returns
/// the actions to carry out, in order; `SessionWorker` carries them out with libssh.
///
/// Invariant the worker relies on: an `answer` always follows the `record` it depends on, and is
/// sent only once every record before it is written (the audit log holds a decision before the
/// client hears it).
struct SessionCore {
    /// How a client tries to log in.
    enum AuthMethod: Equatable {
        /// `none`: how a client asks which methods there are.
        case none
        /// A public key, with or without a signature (a probe), or with one that does not verify.
        case publicKey(PublicKey, signature: Signature)
        /// Any other method (password, keyboard-interactive, ...), by name: never offered.
        case other(String)
        /// A public-key attempt libssh already refused (a signature algorithm outside the accepted
        /// list, a key type it cannot read), with why; `key` when it could be read.
        case refusedKey(PublicKey?, reason: String)

        /// The key of a public-key attempt, if there is one.
        var key: PublicKey? {
            switch self {
            case .publicKey(let key, _): key
            case .refusedKey(let key, _): key
            case .none, .other: nil
            }
        }
    }

    enum Signature: Equatable {
        case absent, valid, invalid
    }

    /// An answer to the client's latest request.
    enum Answer: Equatable {
        case authSuccess
        /// The key would be accepted: the client may now sign with it.
        case authKeyAcceptable
        /// Refused; the client may try another method or key.
        case authFailure
        /// Success of a global request; `port` for a TCP listen (the port bound), else 0.
        case requestSuccess(port: Int)
        case requestFailure
        /// A channel open refused with `reason`, which the client prints.
        case openFailure(reason: String)
    }

    enum Action {
        /// Hand `event` to the recorder.
        case record(ServerEvent)
        /// Send `answer` once every record so far is written.
        case answer(Answer)
        /// Bind the listener for `request` (allowed and recorded), then report `listenBound` or
        /// `listenFailed`.
        case bind(ForwardRequest, dynamicRanges: [ClosedRange<Int>]?)
        /// Stop the listener of `request` and remove its socket file.
        case unbind(ForwardRequest)
        /// End the session, for `reason` (audited); `toClient`, when set, is the text of the
        /// SSH_MSG_DISCONNECT the client is sent (as sshd's "Too many authentication failures").
        case close(reason: String, toClient: String?)
    }

    let session: UInt64
    let client: Endpoint
    private let maxAuthTries: Int
    private(set) var rules: (any SessionRules)?
    /// Who authenticated, to ask the authority again when the rules change.
    private(set) var login: (user: String, key: PublicKey)?
    private(set) var authFailures = 0
    private var authAttempts = 0
    /// Listens allowed and bound (or being bound), in the order they were asked for.
    private(set) var listens: [ForwardRequest] = []
    /// The port the server chose for each bound `-R 0` listen (what the client cancels it by).
    private var allocatedPorts: [ForwardRequest: Int] = [:]
    private(set) var closeReason: String?

    init(session: UInt64, client: Endpoint, maxAuthTries: Int) {
        self.session = session
        self.client = client
        self.maxAuthTries = maxAuthTries
    }

    var isAuthenticated: Bool { rules != nil }

    // MARK: - Authentication

    /// The longest user name accepted, in bytes; a longer one fails the attempt.
    static let maxUserNameBytes = 256

    /// A login attempt as `user` (`userProblem`: why the name as sent cannot be a user name, see
    /// ``ClientText/userName(_:)``; `user` then shows its bytes escaped). Every attempt counts but
    /// a first `none` (OpenSSH's rule); once `maxAuthTries` have failed the session ends at once,
    /// after recording the last refusal. A user name with a problem or longer than
    /// `maxUserNameBytes` fails the attempt; what is recorded of it is capped (``ClientText``).
    mutating func authenticate(user: String, userProblem: String? = nil, method: AuthMethod,
                               authority: any SessionAuthority) -> [Action] {
        guard closeReason == nil else { return [] }
        guard rules == nil else { return [.answer(.authFailure)] }
        authAttempts += 1
        let size = user.utf8.count
        if let userProblem {
            return refuse(user: user, key: method.key, keyName: nil, reason: userProblem)
        }
        if size > Self.maxUserNameBytes {
            return refuse(user: user, key: method.key, keyName: nil,
                          reason: "user name is \(size) bytes long; at most \(Self.maxUserNameBytes) are accepted")
        }
        switch method {
        case .none:
            // Asking for the methods is free once; a client that keeps sending it is counting down.
            guard authAttempts > 1 else { return [.answer(.authFailure)] }
            return refuse(user: user, key: nil, keyName: nil, reason: "none authentication is not offered")
        case .other(let name):
            return refuse(user: user, key: nil, keyName: nil, reason: "\(name) authentication is not offered")
        case .refusedKey(let key, let reason):
            return refuse(user: user, key: key, keyName: nil, reason: reason)
        case .publicKey(let key, let signature):
            switch (authority.admit(user: user, key: key, client: client), signature) {
            case (.admitted, .absent):
                // A probe: nothing is granted until the signed attempt, which is the one recorded.
                authAttempts -= 1
                return [.answer(.authKeyAcceptable)]
            case (.admitted(let granted), .valid):
                rules = granted
                login = (user, key)
                return [.record(.authenticated(session: session, user: user, key: key, keyName: granted.keyName)),
                        .answer(.authSuccess)]
            case (.admitted(let granted), .invalid):
                return refuse(user: user, key: key, keyName: granted.keyName, reason: "invalid signature")
            case (.refused(let reason, let keyName), _):
                return refuse(user: user, key: key, keyName: keyName, reason: reason)
            }
        }
    }

    private mutating func refuse(user: String, key: PublicKey?, keyName: String?, reason: String) -> [Action] {
        authFailures += 1
        var actions: [Action] = [.record(.authRefused(session: session, user: ClientText.capped(user), key: key,
                                                      keyName: keyName, reason: ClientText.capped(reason, limit: ClientText.reasonLimit))),
                                 .answer(.authFailure)]
        if authFailures >= maxAuthTries {
            actions.append(end("too many authentication failures", toClient: "Too many authentication failures"))
        }
        return actions
    }

    // MARK: - Remote listens

    /// `tcpip-forward` or `streamlocal-forward@openssh.com`: decided by the rules and recorded;
    /// an allowed one is bound next (`listenBound` / `listenFailed` answer it).
    mutating func listen(_ request: ForwardRequest) -> [Action] {
        guard closeReason == nil else { return [] }
        guard let rules else { return [.answer(.requestFailure)] }
        let decision = rules.decide(request)
        var actions: [Action] = [.record(.forwardRequested(session: session, request: request, decision: decision))]
        guard decision.isAllowed else { return actions + [.answer(.requestFailure)] }
        if listens.contains(request) {
            return actions + [.record(.forwardFailed(session: session, request: request,
                                                     reason: "already forwarded in this session")),
                              .answer(.requestFailure)]
        }
        listens.append(request)
        var ranges: [ClosedRange<Int>]?
        if case .tcpListen(let host, 0) = request {
            let allowed = rules.dynamicPortRanges(host: host)
            ranges = allowed == [1024...65535] ? nil : allowed
        }
        actions.append(.bind(request, dynamicRanges: ranges))
        return actions
    }

    /// The listener of an allowed listen is in place: recorded, then the client is told.
    mutating func listenBound(_ request: ForwardRequest, bound: String, port: Int) -> [Action] {
        if case .tcpListen(_, 0) = request { allocatedPorts[request] = port }
        return [.record(.forwardBound(session: session, request: request, bound: bound)), .answer(.requestSuccess(port: port))]
    }

    /// The listener could not be set up: recorded with why, then refused.
    mutating func listenFailed(_ request: ForwardRequest, reason: String) -> [Action] {
        listens.removeAll { $0 == request }
        allocatedPorts[request] = nil
        return [.record(.forwardFailed(session: session, request: request, reason: reason)), .answer(.requestFailure)]
    }

    /// A cancel: only of a listen this session holds (anything else is refused, unrecorded). A
    /// `-R 0` listen is cancelled by the port requested (0) or, as OpenSSH's client sends it, by
    /// the port the server allocated; it is recorded and unbound as it was requested.
    mutating func cancel(_ request: ForwardRequest) -> [Action] {
        guard closeReason == nil, let index = listens.firstIndex(where: { $0 == request || isAllocated($0, as: request) })
        else { return [.answer(.requestFailure)] }
        let held = listens.remove(at: index)
        allocatedPorts[held] = nil
        return [.unbind(held), .record(.forwardCancelled(session: session, request: held)),
                .answer(.requestSuccess(port: 0))]
    }

    /// Whether `held` is a `-R 0` listen whose allocated port is the one `request` names.
    private func isAllocated(_ held: ForwardRequest, as request: ForwardRequest) -> Bool {
        guard case .tcpListen(let host, 0) = held, case .tcpListen(host, let port) = request, port != 0 else { return false }
        return allocatedPorts[held] == port
    }

    // MARK: - Channel opens

    /// What to do about a `direct-tcpip` open, decided before any lookup.
    enum TCPOpenPlan: Equatable {
        /// Record `decision` (a refusal) and refuse: no rule could allow it, so nothing is looked up.
        case refuse(Decision)
        /// Record `decision` and connect to `addresses` (the host was numeric).
        case connect(Decision, addresses: [String])
        /// Record `decision` (allowed by the name as requested), then resolve the name to connect.
        case resolveToConnect(Decision)
        /// Resolve the name first: only its addresses can decide (a CIDR rule); see `decideResolved`.
        case resolveToDecide
    }

    /// The plan for opening `host:port`: the policy decides on the host as requested first. A
    /// numeric host (`numericAddress`: its normal form, nil for a name) needs no resolver; a name
    /// is resolved only when a rule allows it by name or could allow it by address.
    func planTCPOpen(host: String, port: Int, numericAddress: String?) -> TCPOpenPlan {
        guard let rules else { return .refuse(.deny(reason: "not authenticated")) }
        if let numericAddress {
            let (decision, allowed) = rules.decideOpen(host: host, port: port, resolvedAddresses: [numericAddress])
            return decision.isAllowed ? .connect(decision, addresses: allowed) : .refuse(decision)
        }
        let (byName, _) = rules.decideOpen(host: host, port: port, resolvedAddresses: [])
        if byName.isAllowed { return .resolveToConnect(byName) }
        return rules.mayAllowOnceResolved(host: host, port: port) ? .resolveToDecide : .refuse(byName)
    }

    /// After `.resolveToDecide`: the decision on the addresses `host` resolved to, and those of
    /// them the session may connect to; a failed lookup refuses with its reason.
    func decideResolved(host: String, port: Int, addresses: Result<[String], ResolveFailure>) -> (Decision, [String]) {
        guard let rules else { return (.deny(reason: "not authenticated"), []) }
        switch addresses {
        case .success(let resolved):
            return rules.decideOpen(host: host, port: port, resolvedAddresses: resolved)
        case .failure(let failure):
            // The rules could allow it only by its addresses, and there are none.
            return (.deny(reason: failure.reason), [])
        }
    }

    /// Why a name did not resolve, as the client and the record read it.
    struct ResolveFailure: Error, Equatable {
        let reason: String
    }

    // MARK: - Malformed requests

    /// A listen, cancel or open that cannot be taken as sent, and why.
    struct MalformedRequest: Equatable {
        /// The kind of request it is (`tcp-listen`, `streamlocal-open`, ...).
        let kind: String
        /// What it asked for, its bytes escaped, when that could be read.
        let target: String?
        /// What is wrong, naming the request: `malformed direct-tcpip: port 65558 is out of range ...`.
        let reason: String
        /// A channel open (refused with the reason), not a global request.
        let isOpen: Bool
    }

    /// A malformed request is never decided by the rules: it is recorded with its reason, then
    /// refused (an open with the reason as its description).
    mutating func refuseMalformed(_ request: MalformedRequest) -> [Action] {
        guard closeReason == nil else { return [] }
        return [.record(.requestMalformed(session: session, kind: request.kind, target: request.target,
                                          reason: request.reason)),
                .answer(request.isOpen ? .openFailure(reason: request.reason) : .requestFailure)]
    }

    // MARK: - Ending

    /// The rules changed: the session ends if its key is no longer admitted.
    mutating func rulesChanged(authority: any SessionAuthority) -> [Action] {
        guard closeReason == nil, let login else { return [] }
        if case .refused(let reason, _) = authority.admit(user: login.user, key: login.key, client: client) {
            // A member link ends because the member view changed, not the key policy.
            if let member = rules as? MemberRules {
                return [end("proxy \(member.member) is no longer a cluster member (members/\(member.member) is gone "
                            + "or names another host key)")]
            }
            return [end("key no longer admitted after reload: \(reason)")]
        }
        return []
    }

    /// The login grace time ran out.
    mutating func loginGraceExpired() -> [Action] {
        guard closeReason == nil, rules == nil else { return [] }
        return [end("login grace time exceeded", toClient: "Login grace time exceeded")]
    }

    private mutating func end(_ reason: String, toClient: String? = nil) -> Action {
        closeReason = reason
        return .close(reason: reason, toClient: toClient)
    }
}
