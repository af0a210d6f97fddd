import Foundation
import PortcullisPolicy

/// A configured key as list-keys and show-key print it: what identifies it, then every
/// `KeyField` as its row shows it (a limit the key leaves unset as the `limits:` default).
struct KeyInfo: Encodable {
    let name: String
    let algorithm: String
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    let fingerprint: String
    let comment: String?
    /// `file:line` of the entry.
    let defined: String
    let expires: Date?
    let expired: Bool
    let fields: [KeyField.View]

    init(_ entry: KeyEntry, defaults: KeyLimits, now: Date = Date()) {
        name = entry.name
        algorithm = entry.key.algorithm
        fingerprint = entry.key.fingerprint
        comment = entry.comment
        defined = entry.location.description
        expires = entry.expires
        expired = entry.expires.map { $0 <= now } ?? false
        let context = KeyField.Context(defaults: defaults, now: now)
        fields = KeyField.all.map { $0.view(entry, context) }
    }

    var expiryText: String {
        guard let expires else { return "never" }
        return Expiry.text(expires) + (expired ? " (expired)" : "")
    }

    /// Every field and rule, one per line.
    var details: String {
        ([
            "name:        \(name)",
            "defined at:  \(defined)",
            "key:         \(algorithm)\(comment.map { " (\($0))" } ?? "")",
            "fingerprint: \(fingerprint)",
        ] + fields.flatMap(\.lines)).joined(separator: "\n")
    }

    func encode(to encoder: Encoder) throws {
        var members: [OutputJSON.Member] = [.init("name", .string(name)), .init("algorithm", .string(algorithm)),
                                           .init("fingerprint", .string(fingerprint)), .init("defined", .string(defined))]
        if let comment { members.append(.init("comment", .string(comment))) }
        try OutputJSON.encode(members + fields.flatMap(\.json), to: encoder)
    }
}
