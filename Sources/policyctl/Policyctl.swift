import ArgumentParser
import Foundation
import PortcullisPolicy

/// `policyctl`: the administrator's command.
@main
struct Policyctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policyctl",
        abstract: "Manage Portcullis keys and rules, dry-run decisions, validate, and reload the daemon.",
        discussion: """
            Keys added by policyctl go to keys_dir, one file per key (NAME.yaml); the main config \
            file is never rewritten. Every write is validated with the daemon's own loader first, \
            then made atomically (temporary file, fsync, rename); concurrent runs take a lock in \
            keys_dir.

            Example:
              policyctl add-key --name alex --key-file alex.pub --permit-streamlocal-listen '/srv/portcullis/%k/*.sock'
              policyctl check --key alex streamlocal-listen /srv/portcullis/alex/web.sock
              policyctl reload
              policyctl audit --key alex --since 1d

            Exit status: 0 success (allow, valid, accepted); 1 refused or failed (deny, invalid \
            config, reload rejected or unanswered, a line not imported); 2 usage error or a config \
            that cannot be loaded.
            """,
        version: "policyctl 0.1.0",
        subcommands: [Init.self, AddKey.self, RemoveKey.self, ListKeys.self, ShowKey.self, Check.self,
                      Validate.self, ImportAuthorizedKeys.self, Reload.self, Audit.self,
                      Status.self, Sessions.self, Disconnect.self, Cluster.self]
    )

    /// Runs the command; our failures print one line, usage errors exit 2.
    static func main() {
        do {
            var command = try parseAsRoot(try GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("policyctl: \(failure.message)\n".utf8))
            Foundation.exit(failure.code)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data("\(fullMessage(for: error))\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Options that every command reading the configuration takes, accepted before the subcommand
/// too (`policyctl --config F list-keys` as `policyctl list-keys --config F`).
enum GlobalOptions {
    /// The options taken before the subcommand; each takes a value.
    static let names = ["--config"]

    /// `arguments` with the global options that precede the subcommand moved to just after the
    /// subcommand's name (its whole path: `audit verify`), where the subcommand parses them. Help
    /// and version flags are left to the parser; any other option before the subcommand is refused
    /// by name.
    static func movedAfterSubcommand(_ arguments: [String]) throws(Failure) -> [String] {
        var moved: [String] = []
        var index = 0
        while index < arguments.count, arguments[index].hasPrefix("-") {
            let argument = arguments[index]
            if ["-h", "--help", "-help", "--version", "--"].contains(argument) || argument.hasPrefix("--generate-completion")
                || argument.hasPrefix("--experimental-dump-help") {
                return arguments
            }
            if names.contains(where: { argument.hasPrefix($0 + "=") }) {
                moved.append(argument)
                index += 1
            } else if names.contains(argument) {
                guard index + 1 < arguments.count else { throw Failure.usage("missing value for \(argument) (\(argument) FILE)") }
                moved += [argument, arguments[index + 1]]
                index += 2
            } else {
                throw Failure.usage("unknown option \"\(argument)\" before the subcommand (only \(names.joined(separator: ", ")) may come first)")
            }
        }
        if moved.isEmpty { return arguments }
        var command: any ParsableCommand.Type = Policyctl.self
        var end = index
        while end < arguments.count,
              let sub = command.configuration.subcommands.first(where: { $0._commandName == arguments[end] || $0.configuration.aliases.contains(arguments[end]) }) {
            command = sub
            end += 1
        }
        guard end > index else {
            throw Failure.usage(index < arguments.count ? "unknown subcommand \"\(arguments[index])\"" : "a subcommand must follow \(moved[0])")
        }
        return Array(arguments[index..<end]) + moved + Array(arguments[end...])
    }
}

/// A failure reported as one line, `policyctl: MESSAGE`, with its exit status.
struct Failure: Error {
    let message: String
    let code: Int32

    /// Refused or failed: exit 1.
    static func refused(_ message: String) -> Failure { Failure(message: message, code: 1) }
    /// Usage or configuration error: exit 2.
    static func usage(_ message: String) -> Failure { Failure(message: message, code: 2) }
}

/// `--config FILE`, shared by the commands that read the configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The main configuration file.", valueName: "FILE"))
    var config = "/etc/portcullis/portcullis.yaml"

    /// The configuration as the daemon would load it (cluster mode: with etcd's key entries); an
    /// unusable one fails with exit 2.
    /// Cluster mode: an entry in etcd that does not load is left out and named on standard error
    /// (`policyctl validate` refuses it).
    func load() throws(Failure) -> PolicyConfig {
        let (config, refusals) = try loadReporting()
        ClusterKeyEntries.warn(refusals)
        return config
    }

    /// `load()` without the warning: the configuration and the entries in etcd that do not load.
    func loadReporting() throws(Failure) -> (config: PolicyConfig, refusals: [ClusterKeyMerge.Refusal]) {
        let settings = try loadSettings()
        guard let cluster = settings.cluster else { return (settings, []) }
        let keys = try ClusterKeyEntries(cluster)
        do {
            return try keys.loadUsable(config)
        } catch {
            throw Failure.usage("invalid configuration: \(Self.summary(error))")
        }
    }

    /// The first problem, and how many more there are.
    static func summary(_ error: ConfigError) -> String {
        guard let first = error.problems.first else { return "unknown error" }
        let more = error.problems.count - 1
        return first.description + (more > 0 ? " (and \(more) more; run policyctl validate)" : "")
    }
}

/// Prints `value` as indented JSON with sorted keys.
func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    print(String(decoding: data, as: UTF8.self))
}
