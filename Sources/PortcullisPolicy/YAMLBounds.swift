// The libyaml that Yams is built on: its event stream, read before Yams composes anything.
import CYaml

/// What one config file may cost to compose, checked on libyaml's event stream before Yams
/// builds a single node. Yams expands every alias into a copy of what it names and hashes
/// mapping keys whole, so a few hundred bytes of nested aliases (a "billion laughs") would cost
/// exponential time and memory; here each alias is charged every node it would stand for.
enum YAMLBounds {
    /// The most nodes a file may amount to with every alias expanded.
    static let maxNodes = 1_000_000
    /// The deepest nesting of lists and mappings (a config needs four levels).
    static let maxDepth = 64
    /// The longest single value, in bytes (an OpenSSH public key line of a 16384-bit RSA key is
    /// under 3 KiB).
    static let maxScalarBytes = 64 << 10

    /// Where `bytes` (well-formed UTF-8) exceeds a bound, and how; nil within bounds. A YAML
    /// syntax error ends the check without a finding: composing reports it, with its line.
    static func problem(in bytes: [UInt8]) -> (line: Int, message: String)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            return walk(&parser)
        }
    }

    /// A collection being composed: how many nodes it amounts to so far, and its anchor.
    private struct Open {
        var nodes = 1
        var anchor: String?
    }

    private static func walk(_ parser: inout yaml_parser_t) -> (line: Int, message: String)? {
        var open: [Open] = []
        /// Nodes each anchor stands for, aliases within it expanded.
        var anchors: [String: Int] = [:]
        var total = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            /// A finished node of `count` nodes: charged to the file and to its parent.
            func add(_ count: Int) {
                total += count
                if !open.isEmpty { open[open.count - 1].nodes += count }
            }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_ALIAS_EVENT:
                let name = text(event.data.alias.anchor) ?? ""
                // An undefined alias is Yams's to report.
                guard let count = anchors[name] else { return nil }
                if total + count > maxNodes {
                    return (line, "alias *\(name) stands for \(count) nodes: with every alias expanded the file would "
                                + "exceed \(maxNodes) nodes (aliases nested in aliases, a \"billion laughs\"?)")
                }
                add(count)
            case YAML_SCALAR_EVENT:
                let length = event.data.scalar.length
                if length > maxScalarBytes {
                    return (line, "a value of \(length) bytes: at most \(maxScalarBytes) bytes are allowed in one value")
                }
                if total + 1 > maxNodes { return (line, "more than \(maxNodes) nodes in one file") }
                if let anchor = text(event.data.scalar.anchor) { anchors[anchor] = 1 }
                add(1)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                if open.count >= maxDepth {
                    return (line, "lists and mappings nested more than \(maxDepth) deep")
                }
                let anchor = event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor
                                                                     : event.data.mapping_start.anchor
                open.append(Open(anchor: text(anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let done = open.popLast() else { return nil }
                // The collection's own node; its children were charged as they came.
                total += 1
                if total > maxNodes { return (line, "more than \(maxNodes) nodes in one file") }
                if let anchor = done.anchor { anchors[anchor] = done.nodes }
                if !open.isEmpty { open[open.count - 1].nodes += done.nodes }
            default:
                continue
            }
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
