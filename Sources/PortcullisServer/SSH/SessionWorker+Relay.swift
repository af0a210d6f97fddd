import CLibSSH
import Foundation
import PortcullisPolicy

/// A member link's `direct-streamlocal` open, as read: the socket, and the relay's correlation id.
struct MemberOpen {
    let rules: MemberRules
    let relativePath: String
    /// The path under this proxy's socket_root.
    let path: String
    let correlation: String
}

/// Why a member's open is refused unread.
struct MemberOpenRefusal: Error {
    let reason: String
}

extension SessionWorker {
    // MARK: - The proxy a client opens on (B)

    /// `path` relative to socket_root, when it lies below it (what a claim is keyed by).
    func relativeToRoot(_ path: String) -> String? {
        let root = configuration.socketRoot
        guard PathValidation.path(path, isUnder: root) else { return nil }
        return String(path.dropFirst(root == "/" ? 1 : root.count + 1))
    }

    /// Whether the socket at `path` is one this proxy serves (a listen of one of its sessions):
    /// then it is opened here, whatever the registry says.
    func servesLocally(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return socketFiles.owns(FileID(info), at: Array(path.utf8))
    }

    /// An allowed open of a socket this proxy does not serve: the registry says who holds it (off
    /// the loop); another member's is relayed there, anything else is opened here as on a single
    /// proxy. The relay's correlation id goes on this proxy's record and the holder's.
    func relay(_ attempt: OpenAttempt, path: String, relativePath: String, rules: any SessionRules, peering: Peering) {
        let correlation = "\(peering.proxyID)-\(id)-\(attempt.channel)-\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let pending = PendingRelay(attempt: attempt, path: path, relativePath: relativePath, correlation: correlation,
                                   rules: rules)
        relaying.append(pending)
        let loop = self.loop!
        peering.open(relativePath: relativePath, correlation: correlation) { [weak self] outcome in
            loop.post {
                pending.outcome = outcome
                if pending.abandoned {
                    pending.discard()
                } else if let self {
                    loop.markDue(self)
                }
            }
        }
    }

    /// Between polls: relays whose holder answered go on.
    func serviceRelays() {
        guard relaying.contains(where: { $0.outcome != nil }) else { return }
        let current = relaying
        relaying = []
        for pending in current {
            guard let outcome = pending.outcome else {
                relaying.append(pending)
                continue
            }
            let attempt = pending.attempt
            switch outcome {
            case .local:
                connectLocal(attempt, path: pending.path, rules: pending.rules)
            case .relayed(let fd, let end, let peer):
                report(.relay(session: id, channel: attempt.channel, path: pending.relativePath,
                              correlation: pending.correlation, peer: peer, direction: "to", reason: nil))
                opened(attempt, fd: fd, relay: end)
            case .failed(let reason, let peer):
                if let peer {
                    report(.relay(session: id, channel: attempt.channel, path: pending.relativePath,
                                  correlation: pending.correlation, peer: peer, direction: "to", reason: reason))
                }
                failed(attempt, reason: reason)
            }
        }
    }

    /// The session is ending: relays still looking for their holder are let go.
    func abandonRelays() {
        for pending in relaying {
            pending.abandoned = true
            ssh_message_free(pending.attempt.message)
            pending.discard()
        }
        relaying = []
    }

    // MARK: - The proxy that holds the socket (A)

    /// Reads a member's open: a path relative to socket_root (refused unless well-formed), and a
    /// correlation id in the reserved string.
    func memberOpen(relativePath: String, correlation: String, rules: MemberRules) -> Result<MemberOpen, MemberOpenRefusal> {
        let root = configuration.socketRoot
        let path = (root == "/" ? "" : root) + "/" + relativePath
        if relativePath.hasPrefix("/") {
            return .failure(.init(reason: "member \(rules.member): socket path \(relativePath) is not relative to socket_root"))
        }
        if let problem = PathValidation.problem(in: path) {
            return .failure(.init(reason: "member \(rules.member): socket path \(relativePath) under socket_root: \(problem)"))
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:".utf8)
        // The longest id a member makes: a 253-character proxy id, "-", a session and a channel (20 digits
        // each at most), "-", 8 hex digits.
        guard (1...320).contains(correlation.utf8.count), correlation.utf8.allSatisfy(allowed.contains) else {
            return .failure(.init(reason: "member \(rules.member): the correlation id (reserved string) must be 1 to 320 "
                                        + "letters, digits, '.', '-', '_' or ':' characters"))
        }
        return .success(MemberOpen(rules: rules, relativePath: relativePath, path: path, correlation: correlation))
    }

    /// A member's open, allowed by the member rules: served only if this proxy serves the socket
    /// (its claim), both sides' records carrying the correlation id.
    func serveMember(_ attempt: OpenAttempt, open: MemberOpen) {
        let proxy = configuration.peering?.proxyID ?? "this proxy"
        let refusal = servesLocally(open.path) ? nil : "\(open.relativePath) is not served by proxy \(proxy)"
        report(.relay(session: id, channel: attempt.channel, path: open.relativePath, correlation: open.correlation,
                      peer: open.rules.member, direction: "from", reason: refusal))
        if let refusal {
            failed(attempt, reason: refusal)
            return
        }
        do {
            // No symbolic link is followed: the socket is the file this proxy made.
            let fd = try UnixSocketFile.connect(path: open.path) { resolved in
                resolved == open.path ? nil : "\(open.path) resolves to \(resolved)"
            }
            opened(attempt, fd: fd)
        } catch {
            failed(attempt, reason: "\(error)")
        }
    }
}

/// A `direct-streamlocal` open while the registry is asked who holds its socket.
final class PendingRelay: @unchecked Sendable {
    let attempt: OpenAttempt
    let path: String
    let relativePath: String
    let correlation: String
    let rules: any SessionRules
    /// Set on the loop's thread when the lookup (and the relay) answered.
    var outcome: Peering.Outcome?
    /// The session ended first.
    var abandoned = false

    init(attempt: OpenAttempt, path: String, relativePath: String, correlation: String, rules: any SessionRules) {
        self.attempt = attempt
        self.path = path
        self.relativePath = relativePath
        self.correlation = correlation
        self.rules = rules
    }

    /// Lets go of a relay made for a session that has ended.
    func discard() {
        if case .relayed(let fd, let end, _) = outcome {
            end.abortByConsumer()
            close(fd)
        }
        outcome = nil
    }
}
