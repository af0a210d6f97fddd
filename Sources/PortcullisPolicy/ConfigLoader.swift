import Foundation
import Yams

/// Loads and validates the YAML config file and its keys_dir. With the readers it uses
/// (ConfigFileReader, and HostKeyFile for the start checks), the only part of the module that
/// touches the file system.
public enum ConfigLoader {
    /// The top-level fields the main file may have.
    public static let fields = [
        "listen", "host_keys", "socket_root", "socket_mode", "gateway_ports", "allow_privileged_ports",
        "names_may_shadow_hosts", "keys_dir", "audit_log", "audit_syslog", "limits", "keys", "algorithms",
    ] + operationsFields + serviceFields + clusterFields

    /// Reads `path` and every `*.yaml`/`*.yml` file in its keys_dir (dot files are skipped; each
    /// must be a regular file, not a link), and validates everything. Throws a `ConfigError` listing
    /// every problem found.
    public static func load(path: String) throws(ConfigError) -> PolicyConfig {
        try load(path: path, pending: PendingChanges())
    }

    /// Loads the configuration as it will be once `pending` is applied, without touching a file:
    /// how a tool validates a change before it writes it.
    public static func load(path: String, pending: PendingChanges) throws(ConfigError) -> PolicyConfig {
        try load(path: path, pending: pending, keyDocuments: nil)
    }

    /// The loader behind both: `keyDocuments` (cluster mode) adds the entries held outside the files.
    static func load(path: String, pending: PendingChanges, keyDocuments: [KeyDocument]?) throws(ConfigError) -> PolicyConfig {
        let document: YAMLDocument
        switch YAMLDocument.load(path: path, pending: pending.mainFile) {
        case .success(let loaded): document = loaded
        case .failure(let problem): throw ConfigError(problems: [problem])
        }
        var reader = NodeReader(document: document)
        var config = PolicyConfig(hostKeys: [], socketRoot: "/")
        var keyNodes: [Node] = []
        var keysDirNode: Node?
        var socketRoot: String?
        if let root = document.root, let fields = reader.fields(of: root, known: fields, what: "top-level") {
            socketRoot = readSettings(fields, into: &config, reader: &reader, root: root)
            // In cluster mode keys and keys_dir are refused (readCluster says so), never read.
            let clusterMode = fields["cluster"].map { !NodeReader.isNull($0.value) } ?? false
            keysDirNode = clusterMode ? nil : fields["keys_dir"].flatMap { NodeReader.isNull($0.value) ? nil : $0.value }
            if !clusterMode, let keys = fields["keys"]?.value, !NodeReader.isNull(keys) {
                if case .sequence(let items) = keys { keyNodes = Array(items) } else { reader.report(keys, "keys: expected a list") }
            }
        } else if document.root == nil {
            reader.report(at: 1, "empty config file (host_keys and socket_root are required)")
        }
        let parsed = KeyEntryParser.parseAll(keyNodes, document: document, socketRoot: socketRoot)
        config.keys += parsed.entries
        reader.problems += parsed.problems
        var problems = reader.problems
        var documents = [document]
        if let keysDirNode, let text = reader.string(keysDirNode, field: "keys_dir") {
            let directory = text.hasPrefix("/") ? text : resolve(text, besides: path)
            config.keysDir = directory
            switch keyFiles(in: directory, pending: pending) {
            case .failure(let error):
                problems.append(ConfigProblem(file: path, line: keysDirNode.mark?.line ?? 1, message: "keys_dir \(NodeReader.quoted(text)): \(error.message)"))
            case .success(let files):
                for file in files {
                    let name = String(file.split(separator: "/").last ?? "")
                    switch YAMLDocument.load(path: file, role: .keyFile, pending: pending.keyFiles[name]) {
                    case .failure(let problem): problems.append(problem)
                    case .success(let keyDocument):
                        documents.append(keyDocument)
                        var keyReader = NodeReader(document: keyDocument)
                        if let root = keyDocument.root {
                            if let entry = KeyEntryParser.parse(root, reader: &keyReader, socketRoot: socketRoot) {
                                config.keys.append(entry)
                            }
                        } else {
                            keyReader.report(at: 1, "empty key file: expected a mapping with the key entry's fields")
                        }
                        problems += keyReader.problems
                    }
                }
            }
        }
        if let keyDocuments {
            let read = readKeyDocuments(keyDocuments, socketRoot: socketRoot, into: &config)
            documents += read.documents
            problems += read.problems
        }
        problems += duplicateProblems(config.keys)
        guard problems.isEmpty else { throw ConfigError(problems: problems) }
        config.files = documents.map(\.path)
        config.digest = digest(documents)
        return config
    }

    /// Reads everything but keys and keys_dir; returns socket_root if it is present and valid.
    private static func readSettings(
        _ fields: [String: (key: Node, value: Node)], into config: inout PolicyConfig, reader: inout NodeReader, root: Node
    ) -> String? {
        var socketRoot: String?
        func value(_ name: String) -> Node? {
            guard let node = fields[name]?.value, !NodeReader.isNull(node) else { return nil }
            return node
        }
        func scalar(_ name: String) -> (String, Node)? {
            guard let node = value(name), let text = reader.string(node, field: name) else { return nil }
            return (text, node)
        }
        for required in ["host_keys", "socket_root"] where value(required) == nil {
            reader.report(fields[required]?.key ?? root, "missing required field \"\(required)\"")
        }
        if let node = value("listen") {
            config.listen = reader.list(node, field: "listen") { text, location throws(PatternError) in
                let address = try ListenAddress(text)
                config.locations.listen.append(location)
                return address
            }
            if config.listen.isEmpty, case .sequence(let items) = node, items.isEmpty {
                reader.report(node, "listen: expected at least one address")
            }
        }
        if let node = value("host_keys") {
            let configPath = reader.path
            config.hostKeys = reader.list(node, field: "host_keys") { text, location throws(PatternError) in
                guard !text.isEmpty, !text.utf8.contains(0) else { throw PatternError("expected a file path") }
                config.locations.hostKeys.append(location)
                // A relative path is read beside the config file (as audit_log), never from the
                // directory the daemon happens to be started in.
                return text.hasPrefix("/") ? text : resolve(text, besides: configPath)
            }
            if case .sequence(let items) = node, items.isEmpty { reader.report(node, "host_keys: expected at least one key file") }
        }
        if let (text, node) = scalar("socket_root") {
            if let problem = PathValidation.problem(inRoot: text) {
                reader.report(node, "socket_root \(NodeReader.quoted(text)): \(problem)")
            } else {
                config.socketRoot = text
                socketRoot = text
            }
        }
        if let (text, node) = scalar("socket_mode") {
            if let mode = ConfigScalars.mode(text) { config.socketMode = mode } else {
                reader.report(node, "socket_mode \(NodeReader.quoted(text)): expected an octal mode like \"0600\"")
            }
        }
        if let (text, node) = scalar("gateway_ports") {
            if let mode = GatewayPorts(rawValue: text) { config.gatewayPorts = mode } else {
                reader.report(node, "gateway_ports \(NodeReader.quoted(text)): expected \"no\", \"yes\" or \"clientspecified\"")
            }
        }
        for (name, keyPath) in [("allow_privileged_ports", \PolicyConfig.allowPrivilegedPorts), ("audit_syslog", \.auditSyslog),
                                ("names_may_shadow_hosts", \.namesMayShadowHosts)] {
            guard let (text, node) = scalar(name) else { continue }
            if let flag = ConfigScalars.bool(text) { config[keyPath: keyPath] = flag } else {
                reader.report(node, "\(name) \(NodeReader.quoted(text)): expected true or false")
            }
        }
        if let (text, node) = scalar("audit_log") {
            if text == "off" {
                config.auditLog = nil
            } else if text.isEmpty || text.utf8.contains(0) || text.hasSuffix("/") {
                reader.report(node, "audit_log \(NodeReader.quoted(text)): expected a file path or \"off\"")
            } else {
                config.auditLog = text.hasPrefix("/") ? text : resolve(text, besides: reader.path)
            }
        }
        if let node = value("limits") { readLimits(node, into: &config.limits, reader: &reader) }
        if let node = value("algorithms") { config.algorithms = Algorithms.read(node, reader: &reader) }
        readOperations(fields, into: &config, reader: &reader)
        readService(fields, into: &config, reader: &reader)
        readCluster(fields, into: &config, reader: &reader, root: root)
        return socketRoot
    }

    /// `relative` as a path next to the file `path`.
    static func resolve(_ relative: String, besides path: String) -> String {
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return base == "/" ? "/" + relative : base + "/" + relative
    }

    /// The key files of `directory`, sorted by name, or why it cannot be listed.
    private static func keyFiles(in directory: String, pending: PendingChanges) -> Result<[String], PatternError> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            return .failure(PatternError("no such directory"))
        }
        guard isDirectory.boolValue else { return .failure(PatternError("not a directory")) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            return .failure(PatternError("cannot list: \(error.localizedDescription)"))
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let present = Set(names).subtracting(pending.removedKeyFiles).union(pending.keyFiles.keys)
        // Every name that looks like a key file is read: one that is not a regular file (a FIFO,
        // a device, a directory, a symbolic link) is named as a problem, never skipped or opened.
        return .success(present.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.hasPrefix(".") }
            .sorted().map { prefix + $0 })
    }

    /// Repeated names and repeated public keys, each naming both places.
    private static func duplicateProblems(_ keys: [KeyEntry]) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        var names: [String: KeyEntry] = [:]
        var blobs: [String: KeyEntry] = [:]
        for entry in keys {
            let here = entry.location
            if let first = names[entry.name] {
                problems.append(ConfigProblem(file: here.file, line: here.line,
                    message: "duplicate key name \"\(entry.name)\" (first defined at \(first.location))"))
            } else {
                names[entry.name] = entry
            }
            let blob = entry.key.canonicalBase64 ?? entry.key.base64
            if let first = blobs[blob] {
                problems.append(ConfigProblem(file: here.file, line: here.line,
                    message: "key \"\(entry.name)\" is the same public key (\(entry.key.fingerprint)) as key \"\(first.name)\" at \(first.location)"))
            } else {
                blobs[blob] = entry
            }
        }
        return problems
    }

    private static func digest(_ documents: [YAMLDocument]) -> String {
        var hasher = SHA256()
        for document in documents {
            hasher.update(Array(document.path.utf8) + [0])
            hasher.update(document.contents)
            hasher.update([0])
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
