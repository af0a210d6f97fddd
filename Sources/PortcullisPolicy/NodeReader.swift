import Yams

/// Reads Yams nodes of one file into plain values, collecting every problem with its line.
struct NodeReader {
    let document: YAMLDocument
    var problems: [ConfigProblem] = []

    init(document: YAMLDocument) { self.document = document }

    var path: String { document.path }

    mutating func report(_ node: Node?, _ message: String) {
        problems.append(ConfigProblem(file: path, line: node?.mark?.line ?? 1, message: message))
    }

    mutating func report(at line: Int, _ message: String) {
        problems.append(ConfigProblem(file: path, line: line, message: message))
    }

    /// A plain `~`, `null` or empty value: treated as absent.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// The fields of a mapping, by name; reports unknown fields (with a suggestion) and non-scalar names.
    mutating func fields(of node: Node, known: [String], what: String) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            report(node, "expected a mapping of \(what) fields")
            return nil
        }
        var result: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard case .scalar(let name) = key else {
                report(key, "expected a field name")
                continue
            }
            guard known.contains(name.string) else {
                let hint = FieldSuggestion.closest(to: name.string, among: known).map { " (did you mean \($0)?)" } ?? ""
                report(key, "unknown \(what) field \"\(name.string)\"\(hint)")
                continue
            }
            result[name.string] = (key, value)
        }
        return result
    }

    /// A scalar's text; reports anything else.
    mutating func string(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(node, "\(field): expected a single value, not a \(Self.kind(of: node))")
            return nil
        }
        return scalar.string
    }

    /// A list of scalars with their nodes; null is an empty list.
    mutating func strings(_ node: Node, field: String) -> [(text: String, node: Node)]? {
        if Self.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            report(node, "\(field): expected a list")
            return nil
        }
        var result: [(text: String, node: Node)] = []
        for (index, item) in sequence.enumerated() {
            guard case .scalar(let scalar) = item else {
                report(item, "\(field)[\(index)]: expected a string, not a \(Self.kind(of: item))")
                continue
            }
            result.append((scalar.string, item))
        }
        return result
    }

    /// Parses each item of a list with `parse`, reporting `field[i] "text": error` for failures.
    mutating func list<T>(_ node: Node, field: String, _ parse: (String, SourceLocation) throws(PatternError) -> T) -> [T] {
        guard let items = strings(node, field: field) else { return [] }
        var result: [T] = []
        for (index, item) in items.enumerated() {
            do {
                result.append(try parse(item.text, document.location(item.node)))
            } catch {
                report(item.node, "\(field)[\(index)] \(Self.quoted(item.text)): \(error.message)")
            }
        }
        return result
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\0", with: "\\0") + "\""
    }

    private static func kind(of node: Node) -> String {
        switch node {
        case .scalar: "value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}
