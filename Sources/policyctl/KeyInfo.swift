import Foundation
import PortcullisPolicy

/// A configured key as list-keys and show-key print it.
struct KeyInfo: Encodable {
    struct Rule: Encodable {
        let pattern: String
        /// `file:line`.
        let defined: String
    }

    let name: String
    let algorithm: String
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    let fingerprint: String
    let comment: String?
    let user: String?
    let from: [String]?
    let expires: String?
    let expired: Bool
    /// `file:line` of the entry.
    let defined: String
    let permitListen: [Rule]
    let permitOpen: [Rule]
    let permitStreamlocalListen: [Rule]
    let permitStreamlocalOpen: [Rule]

    enum CodingKeys: String, CodingKey {
        case name, algorithm, fingerprint, comment, user, from, expires, expired, defined
        case permitListen = "permit_listen", permitOpen = "permit_open"
        case permitStreamlocalListen = "permit_streamlocal_listen", permitStreamlocalOpen = "permit_streamlocal_open"
    }

    init(_ entry: KeyEntry, now: Date = Date()) {
        name = entry.name
        algorithm = entry.key.algorithm
        fingerprint = entry.key.fingerprint
        comment = entry.comment
        user = entry.user
        from = entry.from?.patterns.map(\.text)
        expires = entry.expires.map(Expiry.text)
        expired = entry.expires.map { $0 <= now } ?? false
        defined = entry.location.description
        permitListen = entry.permitListen.map { Rule(pattern: $0.text, defined: $0.location.description) }
        permitOpen = entry.permitOpen.map { Rule(pattern: $0.text, defined: $0.location.description) }
        permitStreamlocalListen = entry.permitStreamLocalListen.map { Rule(pattern: $0.pattern.text, defined: $0.location.description) }
        permitStreamlocalOpen = entry.permitStreamLocalOpen.map { Rule(pattern: $0.pattern.text, defined: $0.location.description) }
    }

    var expiryText: String {
        guard let expires else { return "never" }
        return expired ? "\(expires) (expired)" : expires
    }

    /// Every field and rule, one per line.
    var details: String {
        var lines = [
            "name:        \(name)",
            "defined at:  \(defined)",
            "key:         \(algorithm)\(comment.map { " (\($0))" } ?? "")",
            "fingerprint: \(fingerprint)",
            "user:        \(user ?? "any")",
            "from:        \(from?.joined(separator: ",") ?? "any address")",
            "expires:     \(expiryText)",
        ]
        for (field, rules) in [("permit_listen", permitListen), ("permit_open", permitOpen),
                               ("permit_streamlocal_listen", permitStreamlocalListen),
                               ("permit_streamlocal_open", permitStreamlocalOpen)] {
            lines.append("\(field):" + (rules.isEmpty ? " none (refused)" : ""))
            lines += rules.map { "  \($0.pattern)  (\($0.defined))" }
        }
        return lines.joined(separator: "\n")
    }
}
