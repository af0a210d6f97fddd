import Foundation
import Yams

/// Builds a `KeyEntry` from one mapping (a `keys` item or a keys_dir file): `name` and `key`, then
/// every other field through its `KeyField` row.
enum KeyEntryParser {
    static let fields = ["name", "key"] + KeyField.names

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
        var entry = KeyEntry.scratch
        let context = KeyField.Context(socketRoot: socketRoot)
        for field in KeyField.all {
            guard let value = fields[field.name]?.value, !NodeReader.isNull(value),
                  let items = items(of: value, field: field, reader: &reader) else { continue }
            let located = items.map { KeyField.Item(text: $0.text, location: reader.document.location($0.node)) }
            for problem in field.read(located, context, &entry) {
                guard let index = problem.index else {
                    reader.report(value, "\(field.name): \(problem.message)")
                    continue
                }
                let item = items[index]
                let subscripted = field.isList ? "\(field.name)[\(index)]" : field.name
                reader.report(item.node, "\(subscripted) \(NodeReader.quoted(item.text)): \(problem.message)")
            }
        }
        guard let name, let parsedKey else { return nil }
        entry.name = name
        entry.key = parsedKey.key
        entry.comment = parsedKey.comment
        entry.location = reader.document.location(node)
        return entry
    }

    /// A field's values with their nodes: a scalar's one text, a list's items (a permit list may
    /// also be the plain word `none`); nil after reporting a value of the wrong shape.
    private static func items(of value: Node, field: KeyField, reader: inout NodeReader) -> [(text: String, node: Node)]? {
        if !field.isList { return reader.string(value, field: field.name).map { [($0, value)] } }
        if field.allowsNone, case .scalar(let scalar) = value, scalar.string == "none" { return [("none", value)] }
        return reader.strings(value, field: field.name)
    }
}
