import ArgumentParser
import Foundation
import PortcullisPolicy

struct AddKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-key",
        abstract: "Add a key: writes keys_dir/NAME.yaml (cluster mode: PREFIX/keys/NAME in etcd).",
        discussion: """
            Refuses a name or a public key that is already configured, an invalid key line or \
            pattern (naming the reason), and any change the daemon would reject. The main config \
            is never edited.

            Key fields (one option per field of a key entry, written as that field):
            \(fieldHelp)

            Example:
              policyctl add-key --name alex --key-file alex.pub --user alex --expires 90d \\
                --permit-streamlocal-listen '/srv/portcullis/%k/*.sock' --permit-open localhost:5900 \\
                --max-sessions 2 --idle-timeout 30m

            Exit status: 0 added; 1 refused; 2 usage error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Option(help: "The key's name: letters, digits, '.', '_' or '-'.") var name: String
    @Option(help: ArgumentHelp("The OpenSSH public key line.", valueName: "LINE")) var key: String?
    @Option(help: ArgumentHelp("A file holding the public key line (e.g. id_ed25519.pub).", valueName: "FILE")) var keyFile: String?
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Key field options (see below).", valueName: "--FIELD VALUE"))
    var fieldOptions: [String] = []

    /// One line per `KeyField`: its option, placeholder and help.
    static var fieldHelp: String {
        KeyField.all.map { "  \($0.option) \($0.valueName)\n      \($0.help)" }.joined(separator: "\n")
    }

    func validate() throws {
        guard (key == nil) != (keyFile == nil) else { throw ValidationError("give exactly one of --key and --key-file") }
        _ = try Self.fieldValues(fieldOptions, now: nil)
    }

    /// `--permit-open X --max-sessions 3` (or `--option=X`) as values by field name, each turned
    /// into what is written (`KeyField.typed`, only with `now`). Unknown options and missing
    /// values are usage errors; a bad value is refused naming the option as typed.
    static func fieldValues(_ arguments: [String], now: Date?) throws -> [String: [String]] {
        var values: [String: [String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            var option = argument, value: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                option = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard let field = KeyField.all.first(where: { $0.option == option }) else {
                let hint = KeyField.closest(toOption: option).map { " (did you mean \($0)?)" } ?? ""
                throw ValidationError(option.hasPrefix("-") ? "unknown option \(option)\(hint)" : "unexpected argument \(argument)")
            }
            if value == nil {
                index += 1
                guard index < arguments.count else { throw ValidationError("missing value for \(option) \(field.valueName)") }
                value = arguments[index]
            }
            index += 1
            guard field.isList || values[field.name] == nil else { throw ValidationError("\(option) given twice; it takes one value") }
            var text = value!
            if let typed = field.typed, let now {
                do throws(PatternError) { text = try typed(text, now) } catch { throw Failure.refused("\(option) \"\(text)\": \(error.message)") }
            }
            values[field.name, default: []].append(text)
        }
        return values
    }

    func run() throws {
        var line = key ?? ""
        if let keyFile {
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw Failure.usage("cannot read --key-file \(keyFile)")
            }
            let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard lines.count == 1 else { throw Failure.refused("--key-file \(keyFile): expected exactly one key line, found \(lines.count)") }
            line = lines[0]
        }
        let spec = KeySpec(name: name, key: line.trimmingCharacters(in: .whitespacesAndNewlines),
                           values: try Self.fieldValues(fieldOptions, now: Date()))
        let (path, hint) = try KeysDirectory.locked(options) { (config, directory) throws(Failure) -> (String, String) in
            let publicKey: PublicKey
            do throws(PatternError) { publicKey = try spec.validate(socketRoot: config.socketRoot) } catch { throw Failure.refused(Self.optionName(error.message)) }
            let policy = Policy(config: config)
            if let existing = policy.entry(named: spec.name) {
                throw Failure.refused("a key named \"\(spec.name)\" already exists (defined at \(existing.location))")
            }
            if let existing = policy.entry(for: publicKey) {
                throw Failure.refused("this public key (\(publicKey.fingerprint)) is already configured as \"\(existing.name)\" at \(existing.location)")
            }
            let data = Data(spec.yaml(header: KeysDirectory.header("add-key", name: spec.name)).utf8)
            try directory.apply(PendingChanges(keyFiles: [spec.fileName: data]))
            return (directory.file(spec.fileName), directory.applyHint)
        }
        print("added key \(spec.name) in \(path); \(hint)")
    }

    /// `permit_open "x": ...` as the option an administrator typed: `--permit-open "x": ...`.
    static func optionName(_ message: String) -> String {
        for field in (["name", "key"] + KeyField.names).sorted(by: { $0.count > $1.count })
        where message.hasPrefix(field + " ") || message.hasPrefix(field + ":") {
            return "--" + field.replacingOccurrences(of: "_", with: "-") + message.dropFirst(field.count)
        }
        return message
    }
}
