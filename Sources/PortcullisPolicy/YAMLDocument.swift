import Foundation
import Yams

/// One config file read and composed into Yams nodes, keeping line numbers.
struct YAMLDocument {
    let path: String
    /// The bytes read, for the config digest.
    let contents: [UInt8]
    /// The root node; nil for an empty document.
    let root: Node?

    /// Reads and composes `path` (or composes `pending`, the contents it is about to have), or
    /// returns the problem.
    static func load(path: String, pending: Data? = nil) -> Result<YAMLDocument, ConfigProblem> {
        if let pending { return compose(path: path, data: pending) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(ConfigProblem(file: path, line: nil, message: "cannot read: no such file"))
        }
        guard !isDirectory.boolValue else {
            return .failure(ConfigProblem(file: path, line: nil, message: "cannot read: is a directory"))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            return .failure(ConfigProblem(file: path, line: nil, message: "cannot read: \(error.localizedDescription)"))
        }
        return compose(path: path, data: data)
    }

    private static func compose(path: String, data: Data) -> Result<YAMLDocument, ConfigProblem> {
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ConfigProblem(file: path, line: nil, message: "not valid UTF-8"))
        }
        do {
            // The basic resolver leaves every scalar a string (the loader reads each field's text
            // itself): no implicit-type regexes, several times faster on a large keys list.
            let root = try Yams.compose(yaml: text, .basic)
            return .success(YAMLDocument(path: path, contents: [UInt8](data), root: root))
        } catch let error as YamlError {
            return .failure(problem(for: error, path: path, text: text))
        } catch {
            return .failure(ConfigProblem(file: path, line: 1, message: "YAML error: \(error)"))
        }
    }

    /// Where `node` starts in this file.
    func location(_ node: Node?) -> SourceLocation {
        SourceLocation(file: path, line: node?.mark?.line ?? 1)
    }

    private static func problem(for error: YamlError, path: String, text: String) -> ConfigProblem {
        func syntax(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) -> ConfigProblem {
            let while_ = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return ConfigProblem(file: path, line: mark.line, message: "YAML syntax error: \(problem)\(while_)")
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return syntax(context, problem, mark)
        case let .duplicatedKeysInMapping(duplicates, context):
            let names = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return ConfigProblem(file: path, line: context.mark.line,
                                 message: "field \(names) appears more than once in the same mapping")
        case let .reader(problem, offset, _, _):
            let line = offset.map { text.prefix($0).filter { $0 == "\n" }.count + 1 } ?? 1
            return ConfigProblem(file: path, line: line, message: "YAML error: \(problem)")
        default:
            return ConfigProblem(file: path, line: 1, message: "YAML error: \(error)")
        }
    }
}
