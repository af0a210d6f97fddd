import Yams

extension Algorithms {
    /// The config's `algorithms` mapping: each field present replaces its list with the algorithms
    /// named, in that order. Every name must be one the daemon supports; a list may not be empty or
    /// repeat a name. Problems are reported on `reader` with their line.
    static func read(_ node: Node, reader: inout NodeReader) -> Algorithms {
        var algorithms = Algorithms.defaults
        guard let fields = reader.fields(of: node, known: kinds.map(\.field), what: "algorithms") else { return algorithms }
        for kind in kinds {
            guard let (key, value) = fields[kind.field] else { continue }
            let field = "algorithms.\(kind.field)"
            guard let items = reader.strings(value, field: field) else { continue }
            if items.isEmpty {
                reader.report(NodeReader.isNull(value) ? key : value,
                              "\(field): expected at least one algorithm (leave the field out for the defaults)")
                continue
            }
            var names: [String] = []
            var valid = true
            for (index, item) in items.enumerated() {
                if let problem = problem(item.text, in: kind) {
                    reader.report(item.node, "\(field)[\(index)] \(NodeReader.quoted(item.text)): \(problem)")
                    valid = false
                } else if names.contains(item.text) {
                    reader.report(item.node, "\(field)[\(index)] \(NodeReader.quoted(item.text)): listed twice")
                    valid = false
                } else {
                    names.append(item.text)
                }
            }
            if valid { algorithms[keyPath: kind.keyPath] = names }
        }
        return algorithms
    }
}
