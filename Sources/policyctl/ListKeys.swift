import ArgumentParser
import Foundation
import PortcullisPolicy

struct ListKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-keys",
        abstract: "List the configured keys: name, fingerprint, expiry, where defined.",
        discussion: """
            Example:
              policyctl list-keys --json

            Exit status: 0 listed; 2 usage error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON: every key with every rule.") var json = false

    func run() throws {
        let config = try options.load()
        let keys = config.keys.map { KeyInfo($0, defaults: config.limits.keyDefaults) }
        if json { return printJSON(keys) }
        let rows = [["NAME", "FINGERPRINT", "EXPIRES", "DEFINED"]] + keys.map { [$0.name, $0.fingerprint, $0.expiryText, $0.defined] }
        let widths = (0..<3).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print((0..<3).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[3])
        }
    }
}
