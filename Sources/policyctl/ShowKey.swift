import ArgumentParser
import Foundation
import PortcullisPolicy

struct ShowKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-key",
        abstract: "Show one key: every rule, fingerprint, expiry, and where each is defined (file:line).",
        discussion: """
            Example:
              policyctl show-key alex
              policyctl show-key SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s --json

            Exit status: 0 shown; 1 no such key; 2 usage error or unusable config.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: "The key's name or SHA256 fingerprint.") var key: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let config = try options.load()
        let entry = try Check.entry(key, in: Policy(config: config))
        let info = KeyInfo(entry, defaults: config.limits.keyDefaults)
        if json { printJSON(info) } else { print(info.details) }
    }
}
