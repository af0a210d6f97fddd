import Foundation
import Yams

/// One config file read and composed into Yams nodes, keeping line numbers.
struct YAMLDocument {
    let path: String
    /// The bytes read, for the config digest.
    let contents: [UInt8]
    /// The root node; nil for an empty document.
    let root: Node?

    /// Which file of the configuration a document is: it decides the size limit and whether a
    /// symbolic link is followed.
    enum Role {
        /// The main file, named by the administrator: may be a link, up to 16 MiB.
        case main
        /// A keys_dir file: never followed through a link, up to 1 MiB.
        case keyFile

        var limit: Int { self == .main ? ConfigFileReader.mainFileLimit : ConfigFileReader.keyFileLimit }
        var links: ConfigFileReader.Links { self == .main ? .follow : .refuse }
    }

    /// Reads and composes `path` (or composes `pending`, the contents it is about to have), or
    /// returns the problem. Only a regular file is read, never more than its role allows, and
    /// what it costs to compose is bounded before Yams composes it (YAMLBounds).
    static func load(path: String, role: Role = .main, pending: Data? = nil) -> Result<YAMLDocument, ConfigProblem> {
        let bytes: [UInt8]
        if let pending {
            bytes = [UInt8](pending)
            guard bytes.count <= role.limit else {
                return .failure(ConfigProblem(file: path, line: nil, message: ConfigFileReader.FileProblem.tooLarge(
                    size: bytes.count, limit: role.limit).message))
            }
        } else {
            switch ConfigFileReader.read(path, limit: role.limit, links: role.links) {
            case .success(let read): bytes = read
            case .failure(.notRegular("directory")) where role == .main:
                return .failure(ConfigProblem(file: path, line: nil, message: "cannot read: is a directory"))
            case .failure(let problem):
                return .failure(ConfigProblem(file: path, line: nil, message: problem.message))
            }
        }
        return compose(path: path, bytes: bytes)
    }

    private static func compose(path: String, bytes: [UInt8]) -> Result<YAMLDocument, ConfigProblem> {
        if let bad = UTF8Check.firstInvalid(bytes) {
            return .failure(ConfigProblem(file: path, line: bad.line, message: "invalid UTF-8 (byte 0x"
                + String(bad.byte, radix: 16, uppercase: false) + " at column \(bad.column))"))
        }
        if let bound = YAMLBounds.problem(in: bytes) {
            return .failure(ConfigProblem(file: path, line: bound.line, message: bound.message))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            // The basic resolver leaves every scalar a string (the loader reads each field's text
            // itself): no implicit-type regexes, several times faster on a large keys list.
            let root = try Yams.compose(yaml: text, .basic)
            return .success(YAMLDocument(path: path, contents: bytes, root: root))
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
