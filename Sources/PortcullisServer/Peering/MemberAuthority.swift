import PortcullisPolicy

/// The door for member links in front of the key policy: a login whose key is the host key of a
/// current member, with that member's proxy id as user name, gets ``MemberRules``; anything else
/// is the key policy's to decide. A member's key is never looked up in `keys/*`, and a key entry
/// never gets member rights.
public struct MemberAuthority: SessionAuthority {
    public let inner: any SessionAuthority
    public let directory: any PeerDirectory
    /// This proxy's own id: a link from itself is refused.
    public let proxyID: String

    public init(inner: any SessionAuthority, directory: any PeerDirectory, proxyID: String) {
        self.inner = inner
        self.directory = directory
        self.proxyID = proxyID
    }

    /// Moves when the key policy or the member view changes: each live session, member links
    /// included, is then admitted again (a member whose record went loses its link).
    public var generation: UInt64 { inner.generation &+ directory.membersGeneration }

    public func admit(user: String, key: PublicKey, client: Endpoint) -> Admission {
        let members = directory.currentMembers()
        guard let member = members.first(where: { $0.proxyID == user && $0.hostKey.base64 == key.base64 })
                ?? members.first(where: { $0.hostKey.base64 == key.base64 }) else {
            return inner.admit(user: user, key: key, client: client)
        }
        // A member's host key is never a client key, whatever keys/* says.
        if member.proxyID == proxyID {
            return .refused(reason: "the host key of this proxy (\(proxyID)) opens no member link to itself")
        }
        guard member.proxyID == user else {
            return .refused(reason: "the host key of member \(member.proxyID) may only log in as \(member.proxyID)")
        }
        return .admitted(MemberRules(member: member.proxyID))
    }
}

/// A member link's rights: opening, by its path relative to socket_root, a socket this proxy
/// serves, or a name one of its sessions publishes. No listen, no TCP open, no shell.
public struct MemberRules: SessionRules {
    /// The member's proxy id.
    public let member: String

    public var keyName: String { "member:\(member)" }

    public var usageKey: String { "member:\(member)" }

    /// A link multiplexes every relayed channel between two proxies: no per-key caps.
    public var limits: KeyLimits { KeyLimits(maxSessions: nil, maxListens: 0, maxChannels: nil) }

    public func decide(_ request: ForwardRequest) -> Decision {
        switch request {
        case .streamLocalOpen:
            // Whether the path is one this proxy serves is checked where the socket is opened.
            return .allow(rule: Grant(location: SourceLocation(file: "members/\(member)", line: 0),
                                      pattern: "sockets this proxy serves"))
        case .nameOpen:
            // Whether this proxy publishes the name is checked where it is delivered.
            return .allow(rule: Grant(location: SourceLocation(file: "members/\(member)", line: 0),
                                      pattern: "names this proxy publishes"))
        default:
            return .deny(reason: "a member link may only open sockets and names this proxy serves")
        }
    }

    public func dynamicPortRanges(host: String) -> [ClosedRange<Int>] { [] }
}
