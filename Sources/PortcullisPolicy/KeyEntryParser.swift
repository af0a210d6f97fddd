import Foundation
import Yams

/// Builds a `KeyEntry` from one mapping (a `keys` item or a keys_dir file).
enum KeyEntryParser {
    static let fields = [
        "name", "key", "user", "from", "expires", "permit_listen", "permit_open",
        "permit_streamlocal_listen", "permit_streamlocal_open",
    ]

    /// The entry, or nil if its name or key is unusable; every problem goes to `reader`.
    /// `socketRoot`, when known, lets listen patterns that can never match be reported.
    static func parse(_ node: Node, reader: inout NodeReader, socketRoot: String?) -> KeyEntry? {
        guard let fields = reader.fields(of: node, known: Self.fields, what: "key entry") else { return nil }
        for required in ["name", "key"] where fields[required] == nil || NodeReader.isNull(fields[required]!.value) {
            reader.report(node, "key entry is missing required field \"\(required)\"")
        }
        var name: String?
        if let value = fields["name"]?.value, !NodeReader.isNull(value), let text = reader.string(value, field: "name") {
            if KeyEntry.isValidName(text) {
                name = text
            } else {
                reader.report(value, "name \(NodeReader.quoted(text)): expected letters, digits, \".\", \"_\" or \"-\" (and not . or ..)")
            }
        }
        var parsedKey: (key: PublicKey, comment: String?)?
        if let value = fields["key"]?.value, !NodeReader.isNull(value), let text = reader.string(value, field: "key") {
            do {
                parsedKey = try PublicKey.parse(line: text)
            } catch {
                reader.report(value, "key: \(error.message)")
            }
        }
        var user: String?
        if let value = fields["user"]?.value, !NodeReader.isNull(value), let text = reader.string(value, field: "user") {
            if text.isEmpty || text.utf8.contains(0) {
                reader.report(value, "user \(NodeReader.quoted(text)): expected a user name")
            } else {
                user = text
            }
        }
        var from: AddressMatch?
        if let value = fields["from"]?.value, !NodeReader.isNull(value) {
            let patterns = reader.list(value, field: "from") { text, _ throws(PatternError) in try AddressPattern(text) }
            if case .sequence(let items) = value, items.isEmpty {
                reader.report(value, "from: an empty list would refuse every client; omit it to allow any address")
            }
            from = AddressMatch(patterns)
        }
        var expires: Date?
        if let value = fields["expires"]?.value, !NodeReader.isNull(value), let text = reader.string(value, field: "expires") {
            expires = RFC3339.date(from: text)
            if expires == nil {
                reader.report(value, "expires \(NodeReader.quoted(text)): expected an RFC 3339 date-time like 2027-01-31T00:00:00Z")
            }
        }
        func rules<T>(_ field: String, _ parse: (String, SourceLocation) throws(PatternError) -> T) -> [T] {
            guard let value = fields[field]?.value else { return [] }
            return reader.list(value, field: field, parse)
        }
        let permitListen = rules("permit_listen") { text, location throws(PatternError) in try ListenRule(text, location: location) }
        let permitOpen = rules("permit_open") { text, location throws(PatternError) in try OpenRule(text, location: location) }
        let permitStreamLocalListen = rules("permit_streamlocal_listen") { text, location throws(PatternError) in
            let rule = try PathRule(text, location: location)
            if let socketRoot, !rule.pattern.canMatch(under: socketRoot) {
                throw PatternError("lies outside socket_root \(socketRoot), so it can never match")
            }
            return rule
        }
        let permitStreamLocalOpen = rules("permit_streamlocal_open") { text, location throws(PatternError) in
            try PathRule(text, location: location)
        }
        guard let name, let parsedKey else { return nil }
        return KeyEntry(
            name: name, key: parsedKey.key, comment: parsedKey.comment, user: user, from: from, expires: expires,
            permitListen: permitListen, permitOpen: permitOpen, permitStreamLocalListen: permitStreamLocalListen,
            permitStreamLocalOpen: permitStreamLocalOpen, location: reader.document.location(node)
        )
    }
}
