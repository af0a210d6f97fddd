import ArgumentParser
import Foundation
import PortcullisPolicy

struct AddKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-key",
        abstract: "Add a key: writes keys_dir/NAME.yaml.",
        discussion: """
            Refuses a name or a public key that is already configured, an invalid key line or \
            pattern (naming the reason), and any change the daemon would reject. The main config \
            is never edited.

            Example:
              policyctl add-key --name alex --key-file alex.pub --user alex --expires 90d \\
                --permit-streamlocal-listen '/srv/portcullis/%k/*.sock' --permit-open localhost:5900

            Exit status: 0 added; 1 refused; 2 usage error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Option(help: "The key's name: letters, digits, '.', '_' or '-'.") var name: String
    @Option(help: ArgumentHelp("The OpenSSH public key line.", valueName: "LINE")) var key: String?
    @Option(help: ArgumentHelp("A file holding the public key line (e.g. id_ed25519.pub).", valueName: "FILE")) var keyFile: String?
    @Option(help: "The only user name the key may log in as.") var user: String?
    @Option(help: ArgumentHelp("Client address pattern (address, CIDR, glob, !negation); repeatable.", valueName: "PATTERN")) var from: [String] = []
    @Option(help: ArgumentHelp("Expiry: RFC 3339, a date (2027-01-31, UTC midnight), or a duration (30d, 12h, 2w).", valueName: "TIME")) var expires: String?
    @Option(help: ArgumentHelp("ssh -R TCP rule: port, host:port, *, ranges; repeatable.", valueName: "SPEC")) var permitListen: [String] = []
    @Option(help: ArgumentHelp("ssh -L TCP rule: host:port, *:port, CIDR hosts, ranges; repeatable.", valueName: "SPEC")) var permitOpen: [String] = []
    @Option(help: ArgumentHelp("ssh -R socket path pattern (%k, %u, *, **); repeatable.", valueName: "PATTERN")) var permitStreamlocalListen: [String] = []
    @Option(help: ArgumentHelp("ssh -L socket path pattern; repeatable.", valueName: "PATTERN")) var permitStreamlocalOpen: [String] = []

    func validate() throws {
        guard (key == nil) != (keyFile == nil) else { throw ValidationError("give exactly one of --key and --key-file") }
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
        var expiry: String?
        if let expires {
            do { expiry = Expiry.text(try Expiry.parse(expires, now: Date())) } catch { throw Failure.refused("--expires \"\(expires)\": \(error.message)") }
        }
        let spec = KeySpec(
            name: name, key: line.trimmingCharacters(in: .whitespacesAndNewlines), user: user, from: from, expires: expiry,
            permitListen: permitListen, permitOpen: permitOpen, permitStreamLocalListen: permitStreamlocalListen,
            permitStreamLocalOpen: permitStreamlocalOpen)
        let path = try KeysDirectory.locked(options) { (config, directory) throws(Failure) -> String in
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
            return directory.file(spec.fileName)
        }
        print("added key \(spec.name) in \(path); run policyctl reload to apply it")
    }

    /// `permit_open "x": ...` as the option an administrator typed: `--permit-open "x": ...`.
    static func optionName(_ message: String) -> String {
        for field in ["permit_streamlocal_listen", "permit_streamlocal_open", "permit_listen", "permit_open", "from", "user", "name", "key"]
        where message.hasPrefix(field + " ") || message.hasPrefix(field + ":") {
            return "--" + field.replacingOccurrences(of: "_", with: "-") + message.dropFirst(field.count)
        }
        return message
    }
}
