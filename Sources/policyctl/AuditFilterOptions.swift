import ArgumentParser
import Foundation
import PortcullisAudit
import PortcullisPolicy

/// The filters shared by `audit show`, `summary` and `follow`. Every filter given must hold.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Records of this key, and the later records of its sessions.", valueName: "NAME")) var key: String?
    @Option(help: ArgumentHelp("Records of the key with this fingerprint, and the later records of its sessions.",
                               valueName: "SHA256:...")) var fingerprint: String?
    @Option(help: ArgumentHelp("Records of sessions logged in as this user.", valueName: "USER")) var user: String?
    @Option(help: ArgumentHelp("Records of sessions from this address or network.", valueName: "IP|CIDR")) var client: String?
    @Option(help: ArgumentHelp("Only this event, e.g. auth, forward-request, session-end.", valueName: "EVENT")) var event: String?
    @Option(help: ArgumentHelp("Only records with this decision.", valueName: "allow|deny")) var decision: DecisionOption?
    @Option(help: ArgumentHelp("Only forwards of this kind: tcp-listen, tcp-open, streamlocal-listen, streamlocal-open, name-publish, name-open.",
                               valueName: "KIND")) var kind: String?
    @Option(help: ArgumentHelp("Only forwards whose requested target matches; * and ? match any characters, / included.",
                               valueName: "GLOB")) var target: String?
    @Option(help: ArgumentHelp("Only this session.", valueName: "ID")) var session: UInt64?
    @Option(help: ArgumentHelp("Only records written by this proxy (its proxy_id).", valueName: "ID")) var proxy: String?
    @Option(help: ArgumentHelp("From this time on: RFC 3339, a date, or how long ago (90s, 15m, 2h, 3d).", valueName: "TIME"))
    var since: String?
    @Option(help: ArgumentHelp("Before this time: the same forms as --since.", valueName: "TIME")) var until: String?

    /// The filter these options describe; a malformed option is a usage error naming it.
    func filter(now: Date = Date()) throws(Failure) -> AuditFilter {
        var filter = AuditFilter()
        filter.key = key
        filter.fingerprint = fingerprint
        filter.user = user
        filter.session = session
        filter.proxy = proxy
        filter.decision = decision.flatMap { AuditFilter.Decision(rawValue: $0.rawValue) }
        if let client {
            switch IPNetwork.parse(client) {
            case .success(let network):
                filter.client = { address in IPAddress(address, lenient: true).map(network.contains) ?? false }
            case .failure(let error):
                throw Failure.usage("--client \"\(client)\": \(error.message)")
            }
        }
        if let event {
            guard AuditVocabulary.events.contains(event) else {
                throw Failure.usage("--event \"\(event)\": unknown event (one of: \(AuditVocabulary.events.joined(separator: ", ")))")
            }
            filter.event = event
        }
        if let kind {
            guard AuditVocabulary.kinds.contains(kind) else {
                throw Failure.usage("--kind \"\(kind)\": unknown kind (one of: \(AuditVocabulary.kinds.joined(separator: ", ")))")
            }
            filter.kind = kind
        }
        if let target {
            let glob: Glob
            do { glob = try Glob(target) } catch { throw Failure.usage("--target \"\(target)\": \(error.message)") }
            filter.target = { glob.matches($0) }
        }
        if let since { filter.since = try AuditTime.parse(since, option: "--since", now: now) }
        if let until { filter.until = try AuditTime.parse(until, option: "--until", now: now) }
        if let from = filter.since, let to = filter.until, from >= to {
            throw Failure.usage("--since \(since ?? "") is not before --until \(until ?? "")")
        }
        return filter
    }
}

/// `--decision allow|deny`.
enum DecisionOption: String, ExpressibleByArgument, CaseIterable {
    case allow, deny
}
