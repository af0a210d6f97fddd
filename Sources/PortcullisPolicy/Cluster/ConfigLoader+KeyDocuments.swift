import Foundation
import Yams

extension ConfigLoader {
    /// Loads the main file at `path` with the key entries of `keyDocuments` (cluster mode: the values
    /// under `PREFIX/keys/` in etcd), each parsed as a keys_dir file is, its problems named
    /// `ORIGIN:LINE` (`etcd:/portcullis/keys/alex:3`). Reads only the main file: the documents are
    /// handed in, so this stays free of any network access.
    public static func load(path: String, keyDocuments: [KeyDocument],
                            pending: PendingChanges = PendingChanges()) throws(ConfigError) -> PolicyConfig {
        try load(path: path, pending: pending, keyDocuments: keyDocuments)
    }

    /// Parses each document into `config.keys`; the documents read (for the digest) and the problems.
    static func readKeyDocuments(_ keyDocuments: [KeyDocument], socketRoot: String?,
                                 into config: inout PolicyConfig) -> (documents: [YAMLDocument], problems: [ConfigProblem]) {
        var documents: [YAMLDocument] = []
        var problems: [ConfigProblem] = []
        for keyDocument in keyDocuments.sorted(by: { $0.name < $1.name }) {
            guard KeyEntry.isValidName(keyDocument.name) else {
                problems.append(ConfigProblem(file: keyDocument.origin, line: nil, message:
                    "key name \(NodeReader.quoted(keyDocument.name)): expected letters, digits, \".\", \"_\" or \"-\" (and not . or ..)"))
                continue
            }
            switch YAMLDocument.load(path: keyDocument.origin, role: .keyFile, pending: Data(keyDocument.bytes)) {
            case .failure(let problem): problems.append(problem)
            case .success(let document):
                documents.append(document)
                var reader = NodeReader(document: document)
                if let root = document.root {
                    if let entry = KeyEntryParser.parse(root, reader: &reader, socketRoot: socketRoot) {
                        if entry.name == keyDocument.name {
                            config.keys.append(entry)
                        } else {
                            reader.report(root, "name \(NodeReader.quoted(entry.name)) differs from the entry's key "
                                          + "\(NodeReader.quoted(keyDocument.name)): they must be the same")
                        }
                    }
                } else {
                    reader.report(at: 1, "empty key entry: expected a mapping with the key entry's fields")
                }
                problems += reader.problems
            }
        }
        return (documents, problems)
    }
}
