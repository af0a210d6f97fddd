import PortcullisAudit
import PortcullisPolicy

extension ServerEvent {
    /// The audit record of this event: its name, its session, and its fields in the order the log
    /// shows them (the names are ``AuditEvent`` and ``AuditField``).
    public var auditRecord: (event: String, session: UInt64?, fields: [JSONMember]) {
        typealias F = AuditField
        switch withClientTextCapped {
        case .sessionOpened(let session, let client, let server):
            return (AuditEvent.sessionStart, session, [
                JSONMember(F.client, .string(client.host)), JSONMember(F.clientPort, .int(Int64(client.port))),
                JSONMember(F.server, .string(server.host)), JSONMember(F.serverPort, .int(Int64(server.port))),
            ])
        case .authenticated(let session, let user, let key, let keyName):
            return (AuditEvent.auth, session, [
                JSONMember(F.user, .string(user)), JSONMember(F.key, .string(keyName)),
                JSONMember(F.fingerprint, .string(key.fingerprint)), JSONMember(F.algorithm, .string(key.algorithm)),
                JSONMember(F.decision, .string("allow")),
            ])
        case .authRefused(let session, let user, let key, let keyName, let reason):
            var fields = [JSONMember(F.user, .string(user))]
            if let keyName { fields.append(JSONMember(F.key, .string(keyName))) }
            if let key {
                fields.append(JSONMember(F.fingerprint, .string(key.fingerprint)))
                fields.append(JSONMember(F.algorithm, .string(key.algorithm)))
            }
            fields += [JSONMember(F.decision, .string("deny")), JSONMember(F.reason, .string(reason))]
            return (AuditEvent.auth, session, fields)
        case .forwardRequested(let session, let request, let decision, let channel, let originator):
            var fields = Self.target(request)
            if let channel { fields.append(JSONMember(F.channel, .int(Int64(channel)))) }
            if let originator { fields.append(JSONMember(F.originator, .string(originator))) }
            switch decision {
            case .allow(let grant):
                fields += [JSONMember(F.decision, .string("allow")), JSONMember(F.rule, .string(grant.location.description)),
                           JSONMember(F.pattern, .string(grant.pattern))]
            case .deny(let reason):
                fields += [JSONMember(F.decision, .string("deny")), JSONMember(F.reason, .string(reason))]
            }
            return (AuditEvent.forwardRequest, session, fields)
        case .requestMalformed(let session, let kind, let target, let reason):
            var fields = [JSONMember(F.kind, .string(kind))]
            if let target { fields.append(JSONMember(F.target, .string(target))) }
            fields += [JSONMember(F.decision, .string("deny")), JSONMember(F.reason, .string(reason))]
            return (AuditEvent.forwardRequest, session, fields)
        case .forwardBound(let session, let request, let bound):
            return (AuditEvent.forwardBound, session, Self.target(request) + [JSONMember(F.bound, .string(bound))])
        case .forwardFailed(let session, let request, let reason, let channel):
            var fields = Self.target(request)
            if let channel { fields.append(JSONMember(F.channel, .int(Int64(channel)))) }
            fields.append(JSONMember(F.reason, .string(reason)))
            return (AuditEvent.forwardFailed, session, fields)
        case .forwardCancelled(let session, let request):
            return (AuditEvent.forwardCancelled, session, Self.target(request))
        case .nameWithdrawn(let session, let request, let reason):
            return (AuditEvent.nameWithdrawn, session, Self.target(request) + [JSONMember(F.reason, .string(reason))])
        case .channelOpened(let session, let channel, let request, let originator):
            return (AuditEvent.channelOpen, session,
                    [JSONMember(F.channel, .int(Int64(channel)))] + Self.target(request)
                        + [JSONMember(F.originator, .string(originator))])
        case .channelClosed(let session, let channel, let request, let toClient, let fromClient, let duration, let reason):
            return (AuditEvent.channelClose, session,
                    [JSONMember(F.channel, .int(Int64(channel)))] + Self.target(request) + [
                        JSONMember(F.bytesFromClient, .int(Int64(fromClient))),
                        JSONMember(F.bytesToClient, .int(Int64(toClient))),
                        JSONMember(F.duration, .double(Self.microseconds(duration))),
                        JSONMember(F.reason, .string(reason)),
                    ])
        case .sessionClosed(let session, let reason, let duration, let channels, let toClient, let fromClient):
            return (AuditEvent.sessionEnd, session, [
                JSONMember(F.duration, .double(Self.microseconds(duration))),
                JSONMember(F.channels, .int(Int64(channels))),
                JSONMember(F.bytesFromClient, .int(Int64(fromClient))),
                JSONMember(F.bytesToClient, .int(Int64(toClient))),
                JSONMember(F.reason, .string(reason)),
            ])
        case .staleSocketRemoved(let path):
            return (AuditEvent.staleSocketRemoved, nil, [JSONMember("path", .string(path))])
        case .socketLeftAlone(let path, let reason):
            return (AuditEvent.socketLeftAlone, nil, [JSONMember("path", .string(path)), JSONMember("reason", .string(reason))])
        case .connectionRefused(let client, let reason, let alsoRefused):
            var fields: [JSONMember] = []
            if let client {
                fields = [JSONMember(F.client, .string(client.host)), JSONMember(F.clientPort, .int(Int64(client.port)))]
            }
            return (AuditEvent.connectionRefused, nil, fields + [
                JSONMember(F.reason, .string(reason)), JSONMember(F.alsoRefused, .int(Int64(alsoRefused))),
            ])
        case .relay(let session, let channel, let path, let correlation, let peer, let direction, let reason):
            var fields = [JSONMember(F.channel, .int(Int64(channel))), JSONMember(F.kind, .string("relay")),
                          JSONMember(F.target, .string(path)), JSONMember(F.correlation, .string(correlation)),
                          JSONMember(F.peer, .string(peer)), JSONMember(F.direction, .string(direction))]
            if let reason { fields.append(JSONMember(F.reason, .string(reason))) }
            return (AuditEvent.relay, session, fields)
        case .sourcePenalised(let client, let source, let reason, let seconds):
            return (AuditEvent.sourcePenalised, nil, [
                JSONMember(F.client, .string(client)), JSONMember(F.source, .string(source)),
                JSONMember(F.reason, .string(reason)), JSONMember(F.duration, .double(Self.microseconds(seconds))),
            ])
        }
    }

    /// ``auditRecord`` with the key name of its session (`key`, as `sessionKeys` tracks it) first
    /// among its fields, unless the record names a key already (auth): every record of an
    /// authenticated session carries it, so a record read alone says whose it is.
    public func auditRecord(sessionKeys: SessionKeyNames) -> (event: String, session: UInt64?, fields: [JSONMember]) {
        var record = auditRecord
        if let session = record.session, let key = sessionKeys.keyName(for: self, session: session),
           !record.fields.contains(where: { $0.key == AuditField.key }) {
            record.fields.insert(JSONMember(AuditField.key, .string(key)), at: 0)
        }
        return record
    }

    /// The event with what a client chose cut to a bounded size (and marked as cut, see
    /// ``ClientText``): the user name of a login attempt; the hosts, paths and originators of
    /// forwards; and reasons (control characters escaped), which may quote the client (libssh's key
    /// exchange errors quote its algorithm lists). What the audit record and the daemon's log show,
    /// so that a failed login costs about 1 KiB of each, and so does a refused forward, however
    /// long the name a key holder sent.
    public var withClientTextCapped: ServerEvent {
        func reason(_ text: String) -> String {
            ClientText.capped(ClientText.withoutControls(text), limit: ClientText.reasonLimit)
        }
        switch self {
        case .forwardRequested(let session, let request, let decision, let channel, let originator):
            let decision: Decision = if case .deny(let why) = decision { .deny(reason: reason(why)) } else { decision }
            return .forwardRequested(session: session, request: request.capped, decision: decision, channel: channel,
                                     originator: originator.map { ClientText.capped($0) })
        case .requestMalformed(let session, let kind, let target, let why):
            // A target cut at decoding (a field past its length limit) keeps its mark and ":port".
            return .requestMalformed(session: session, kind: kind,
                                     target: target.map { ClientText.capped($0, limit: ClientText.limit + 64) },
                                     reason: reason(why))
        case .forwardBound(let session, let request, let bound):
            return .forwardBound(session: session, request: request.capped, bound: ClientText.capped(bound))
        case .forwardFailed(let session, let request, let why, let channel):
            return .forwardFailed(session: session, request: request.capped, reason: reason(why), channel: channel)
        case .forwardCancelled(let session, let request):
            return .forwardCancelled(session: session, request: request.capped)
        case .nameWithdrawn(let session, let request, let reason):
            return .nameWithdrawn(session: session, request: request.capped, reason: reason)
        case .channelOpened(let session, let channel, let request, let originator):
            return .channelOpened(session: session, channel: channel, request: request.capped,
                                  originator: ClientText.capped(originator))
        case .channelClosed(let session, let channel, let request, let toClient, let fromClient, let duration, let why):
            return .channelClosed(session: session, channel: channel, request: request.capped, bytesToClient: toClient,
                                  bytesFromClient: fromClient, duration: duration, reason: reason(why))
        case .authenticated(let session, let user, let key, let keyName):
            return .authenticated(session: session, user: ClientText.capped(user), key: key, keyName: keyName)
        case .authRefused(let session, let user, let key, let keyName, let reason):
            return .authRefused(session: session, user: ClientText.capped(user), key: key, keyName: keyName,
                                reason: ClientText.capped(ClientText.withoutControls(reason), limit: ClientText.reasonLimit))
        case .sessionClosed(let session, let reason, let duration, let channels, let toClient, let fromClient):
            return .sessionClosed(session: session,
                                  reason: ClientText.capped(ClientText.withoutControls(reason), limit: ClientText.reasonLimit),
                                  duration: duration, channels: channels, bytesToClient: toClient,
                                  bytesFromClient: fromClient)
        default:
            return self
        }
    }

    private static func target(_ request: ForwardRequest) -> [JSONMember] {
        [JSONMember(AuditField.kind, .string(request.kind)), JSONMember(AuditField.target, .string(request.target))]
    }

    private static func microseconds(_ seconds: Double) -> Double {
        (seconds * 1_000_000).rounded() / 1_000_000
    }
}

private extension ForwardRequest {
    /// The request with its host or path cut as ``ClientText/capped(_:limit:)`` cuts it.
    var capped: ForwardRequest {
        switch self {
        case .tcpListen(let host, let port): .tcpListen(host: ClientText.capped(host), port: port)
        case .tcpOpen(let host, let port): .tcpOpen(host: ClientText.capped(host), port: port)
        case .streamLocalListen(let path): .streamLocalListen(path: ClientText.capped(path))
        case .streamLocalOpen(let path): .streamLocalOpen(path: ClientText.capped(path))
        case .namePublish(let name, let port): .namePublish(name: ClientText.capped(name), port: port)
        case .nameOpen(let name, let port): .nameOpen(name: ClientText.capped(name), port: port)
        }
    }
}
