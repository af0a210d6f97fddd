import ArgumentParser
import Foundation
import PortcullisPolicy

struct ImportAuthorizedKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-authorized-keys",
        abstract: "Turn an OpenSSH authorized_keys file into keys_dir files.",
        discussion: """
            Translated: restrict, no-port-forwarding, port-forwarding (in order), permitlisten, \
            permitopen (OpenSSH's [/path]:* becomes a permit_streamlocal_open rule; permitlisten="none" and \
            permitopen="none", forbidding all, become none), from (addresses, \
            CIDR, globs, !negation), expiry-time (local time unless it ends in Z). With forwarding on \
            and no permitlisten (permitopen), OpenSSH allows any TCP listen (open): that becomes \
            "*" ("*:*") and is noted. Socket rules come only from [/path]:*. Skipped and reported: \
            command, no-pty, pty, (no-)agent-forwarding, (no-)x11-forwarding, (no-)user-rc, \
            environment, tunnel, no-touch-required. A line that cannot be translated faithfully \
            (cert-authority, verify-required, host names in from, unknown options, bad keys) or \
            whose key is already configured is not imported and is reported with its line number. \
            Names come from the key comment (after --name-prefix), made unique.

            Example:
              policyctl import-authorized-keys ~alex/.ssh/authorized_keys --name-prefix alex- --dry-run

            Exit status: 0 every key line imported; 1 some lines not imported (the others were) or \
            the result refused; 2 usage error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: "The authorized_keys file.") var file: String
    @Option(help: ArgumentHelp("Put P before each name.", valueName: "P")) var namePrefix = ""
    @Flag(help: "Show what would be written; write nothing.") var dryRun = false
    @Flag(help: "Print the report as JSON.") var json = false

    struct Output: Encodable {
        struct Imported: Encodable {
            let line: Int
            let name: String
            let file: String
            let skipped: [String]
            let notes: [String]
            let key: KeySpec
        }

        let dryRun: Bool
        let imported: [Imported]
        let refused: [AuthorizedKeys.Refused]
    }

    func run() throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw Failure.usage("cannot read \(file)") }
        let output = try KeysDirectory.locked(options) { (config, directory) throws(Failure) -> Output in
            var taken = Set(config.keys.map(\.name))
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            taken.formUnion(files.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map { ($0 as NSString).deletingPathExtension })
            var existing: [String: String] = [:]
            for entry in config.keys { existing[entry.key.base64] = entry.name }
            let report = AuthorizedKeys.translate(file: text, namePrefix: namePrefix, takenNames: taken, existing: existing,
                                                  socketRoot: config.socketRoot)
            var changes = PendingChanges()
            for item in report.imported {
                changes.keyFiles[item.spec.fileName] = Data(item.spec.yaml(header: KeysDirectory.header(
                    "import-authorized-keys from \(file) line \(item.line)", name: item.spec.name)).utf8)
            }
            if !dryRun, !changes.keyFiles.isEmpty { try directory.apply(changes) }
            return Output(dryRun: dryRun, imported: report.imported.map {
                Output.Imported(line: $0.line, name: $0.spec.name, file: directory.file($0.spec.fileName),
                                skipped: $0.skipped, notes: $0.notes, key: $0.spec)
            }, refused: report.refused)
        }
        if json { printJSON(output) } else { print(describe(output)) }
        if !output.refused.isEmpty { throw ExitCode(1) }
    }

    private func describe(_ output: Output) -> String {
        var lines: [String] = []
        var events: [(Int, [String])] = output.imported.map { item in
            var text = ["line \(item.line): \(output.dryRun ? "would import" : "imported") as \(item.name) (\(item.file))"]
            if !item.skipped.isEmpty { text.append("  skipped options: \(item.skipped.joined(separator: ", "))") }
            text += item.notes.map { "  note: \($0)" }
            if output.dryRun { text += item.key.yaml().split(separator: "\n").map { "    " + $0 } }
            return (item.line, text)
        }
        events += output.refused.map { ($0.line, ["line \($0.line): not imported: \($0.reason)"]) }
        for (_, text) in events.sorted(by: { $0.0 < $1.0 }) { lines += text }
        let verb = output.dryRun ? "would import" : "imported"
        lines.append("\(verb) \(output.imported.count) keys; \(output.refused.count) lines not imported")
        return lines.joined(separator: "\n")
    }
}
