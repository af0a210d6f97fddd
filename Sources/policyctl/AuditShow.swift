import ArgumentParser
import Foundation
import PortcullisAudit

/// `policyctl audit [show]`: the records that pass the filters, as a table or as the log's lines.
struct AuditShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the audit records that pass the filters.",
        discussion: """
            Identity filters (--key, --fingerprint, --user, --client) also match the later \
            records of a session that matched: its forwards, channels and end. The table has \
            fixed-width columns (a longer value pushes the rest of its row right); the target and \
            the detail, with any reason in full, come last. --json prints the matching lines \
            exactly as the log holds them.

            The logs of several proxies (each FILE's records name their proxy) are merged in time \
            order, each proxy's files read oldest first as given; the table then has a PROXY \
            column, and --proxy keeps one proxy's records. Sessions are told apart per proxy.

            Example:
              policyctl audit --key alex --since 2h
              policyctl audit --decision deny --kind tcp-open --client 203.0.113.0/24
              policyctl audit --target '/srv/portcullis/*/web.sock' --json /var/log/portcullis/audit.jsonl.1
              policyctl audit --key alex a/audit.jsonl.1 a/audit.jsonl b/audit.jsonl c/audit.jsonl

            Exit status: 0 shown (even if nothing matched); 1 some line was not a record (named \
            on stderr as FILE:LINE); 2 usage error, unusable config, no or unreadable log files.
            """
    )

    @OptionGroup var source: AuditFiles
    @OptionGroup var filters: AuditFilterOptions
    @Flag(help: "Print the matching records' lines exactly as in the log, one per line.") var json = false

    func run() throws {
        let filter = try filters.filter()
        let chains = try source.resolveChains()
        let proxies = chains.count > 1
        let scan = AuditScan(filter: filter, chains: chains.count)
        if !json { print(AuditTable.header(proxies: proxies)) }
        try scan.run(chains: chains) { line, match, _ in
            guard match.matches else { return }
            if json {
                StandardOutput.writeLine(line.bytes)
            } else {
                print(AuditTable.row(match.record, identity: match.identity, proxies: proxies))
            }
        }
        StandardOutput.flush()
        if scan.problems > 0 { throw ExitCode(1) }
    }
}
