import ArgumentParser
import Foundation
import PortcullisPolicy
import PortcullisServer

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the whole configuration (main file and keys_dir) as the daemon would.",
        discussion: """
            Prints every problem as FILE:LINE: MESSAGE. Checks what stops the daemon at start too, \
            as portcullisd --check does: each host key exists, is a regular file that group and \
            others cannot read, and loads; each listen address is numeric; with user:, run as root, \
            what that account could not read or write (the config, host keys, socket_root, the \
            audit log's directory).

            Example:
              policyctl validate --config /etc/portcullis/portcullis.yaml

            Exit status: 0 valid; 1 invalid; 2 usage error.
            """
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON: ok, keys, problems (file, line, message).") var json = false

    struct Output: Encodable {
        struct Problem: Encodable {
            let file: String
            let line: Int?
            let message: String
        }

        let ok: Bool
        let keys: Int?
        let problems: [Problem]
    }

    func run() throws {
        do throws(ConfigError) {
            var config = try ConfigLoader.load(path: options.config)
            // Cluster mode: the key entries in etcd, validated by the same loader.
            var clusterRead: ClusterKeyEntries?
            if let settings = config.cluster {
                do {
                    clusterRead = try ClusterKeyEntries(settings)
                } catch {
                    throw ConfigError(problems: [ConfigProblem(file: options.config, line: nil, message: error.message)])
                }
                config = try clusterRead!.load(options.config)
            }
            // What would stop the daemon at start: the very checks portcullisd makes before it starts.
            let startProblems = StartupCheck.problems(config)
            guard startProblems.isEmpty else { throw ConfigError(problems: startProblems) }
            // As the account `user:` names, when root would drop to it (what it cannot read or write).
            // (Run by another user, it cannot ask as that account; the start would be root's.)
            let accountProblems = geteuid() == 0 ? (try? AccountChecks.beforeStart(config, configPath: options.config)) ?? [] : []
            guard accountProblems.isEmpty else {
                throw ConfigError(problems: accountProblems.map { ConfigProblem(file: options.config, line: nil, message: $0) })
            }
            if json { printJSON(Output(ok: true, keys: config.keys.count, problems: [])) } else {
                if let clusterRead {
                    print("\(options.config): OK (\(config.keys.count) keys in \(clusterRead.location) at revision \(clusterRead.revision))")
                } else {
                    print("\(options.config): OK (\(config.keys.count) keys in \(config.files.count) files)")
                }
            }
        } catch {
            if json {
                printJSON(Output(ok: false, keys: nil, problems: error.problems.map { .init(file: $0.file, line: $0.line, message: $0.message) }))
            } else {
                // Every problem, not only the first ConfigError.describedLimit the daemon logs.
                print(error.problems.map(\.description).joined(separator: "\n"))
            }
            throw ExitCode(1)
        }
    }
}
