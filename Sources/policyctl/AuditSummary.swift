import ArgumentParser
import Foundation
import PortcullisAudit

/// `policyctl audit summary`: per-key figures, failed logins of unknown keys, open sessions.
struct AuditSummary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Summarise the audit log: per key, unknown keys' failed logins, open sessions.",
        discussion: """
            Per key: successful logins (sessions), failed logins, forward requests granted and \
            refused, bytes from and to the client (summed over closed channels), the three most \
            refused targets with counts, and when it was last seen. Then failed logins of keys \
            that are not configured, by fingerprint. Then the sessions still open as far as the \
            log shows (a daemon start or stop ends all sessions before it), with the listens in \
            place. The filters select the records counted; an open session is listed if any of \
            its records passed them. The logs of several proxies are read together: sessions are \
            told apart per proxy, and open sessions name their proxy.

            Example:
              policyctl audit summary --since 1d
              policyctl audit summary --key alex --json

            Exit status: 0 summarised; 1 some line was not a record (named on stderr as \
            FILE:LINE); 2 usage error, unusable config, no or unreadable log files.
            """
    )

    @OptionGroup var source: AuditFiles
    @OptionGroup var filters: AuditFilterOptions
    @Flag(help: "Print the summary as a JSON object.") var json = false

    func run() throws {
        let filter = try filters.filter()
        let chains = try source.resolveChains()
        let scan = AuditScan(filter: filter, chains: chains.count)
        var tally = AuditTally()
        try scan.run(chains: chains) { _, match, _ in
            let pastUntil = filter.until.map { until in AuditTimestamp.date(from: match.record.ts).map { $0 >= until } ?? false } ?? false
            tally.add(match, pastUntil: pastUntil)
        }
        let report = AuditSummaryReport(tally)
        if json {
            // snake_case, as the log itself names these figures (bytes_from_client, ...).
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if scan.problems > 0 { throw ExitCode(1) }
    }
}
