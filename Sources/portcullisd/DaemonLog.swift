import Foundation
import PortcullisPolicy
import PortcullisServer

/// The daemon's log on stderr: one line per event, for systemd's journal. (The audit log, with
/// its hash chain, is a separate record.)
final class DaemonLog: @unchecked Sendable {
    private let lock = NSLock()

    func line(_ text: String) {
        lock.lock()
        FileHandle.standardError.write(Data("portcullisd: \(text)\n".utf8))
        lock.unlock()
    }

    func record(_ event: ServerEvent) {
        switch event {
        case .sessionOpened(let session, let client, _):
            line("session \(session): connection from \(client)")
        case .authenticated(let session, let user, let key, let keyName):
            line("session \(session): accepted key \(keyName) (\(key.fingerprint)) for \(user)")
        case .authRefused(let session, let user, let key, _, let reason):
            line("session \(session): refused key \(key?.fingerprint ?? "(none)") for \(user): \(reason)")
        case .forwardRequested(let session, let request, .allow(let rule), _, _):
            line("session \(session): allow \(request) by \(rule)")
        case .forwardRequested(let session, let request, .deny(let reason), _, _):
            line("session \(session): deny \(request): \(reason)")
        case .requestMalformed(let session, let kind, let target, let reason):
            line("session \(session): refused \(kind)\(target.map { " " + $0 } ?? ""): \(reason)")
        case .forwardBound(let session, .namePublish(let name, let port), _):
            line("session \(session): published name \(name) (port \(port))")
        case .forwardBound(let session, let request, let bound):
            line("session \(session): listening for \(request.kind) on \(bound)")
        case .forwardFailed(let session, let request, let reason, _):
            line("session \(session): \(request) failed: \(reason)")
        case .forwardCancelled(let session, let request):
            line("session \(session): cancelled \(request)")
        case .nameWithdrawn(let session, let request, let reason):
            line("session \(session): name \(request.target) withdrawn: \(reason)")
        case .channelOpened(let session, let channel, let request, let originator):
            line("session \(session): channel \(channel) \(request) from \(originator)")
        case .channelClosed(let session, let channel, _, let toClient, let fromClient, _, let reason):
            line("session \(session): channel \(channel) closed (\(reason)), \(fromClient) bytes in, \(toClient) out")
        case .sessionClosed(let session, let reason, _, _, _, _):
            line("session \(session): closed: \(reason)")
        case .staleSocketRemoved(let path):
            line("removed stale socket \(path)")
        case .socketLeftAlone(let path, let reason):
            line("left socket \(path) untouched: \(reason)")
        case .connectionRefused(let client, let reason, let alsoRefused):
            let more = alsoRefused > 0 ? " (and \(alsoRefused) more like it not recorded one by one)" : ""
            line("refused \(client.map { "a connection from \($0)" } ?? "connections"): \(reason)\(more)")
        case .relay(let session, let channel, let path, let correlation, let peer, let direction, let reason):
            let way = direction == "to" ? "relayed to \(peer)" : "served for member \(peer)"
            line("session \(session): channel \(channel) \(path) \(way) (correlation \(correlation))"
                 + (reason.map { ": \($0)" } ?? ""))
        case .sourcePenalised(let client, let source, let reason, let seconds):
            line("penalised source \(source) (\(client)) for \(Int(seconds.rounded(.up)))s: \(reason)")
        }
    }
}
