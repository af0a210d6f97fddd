import ArgumentParser

/// `policyctl audit`: review of the daemon's audit log. Without a subcommand, `show`.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Review the daemon's audit log: show records, summarise, follow, verify the hash chain.",
        discussion: """
            Every subcommand reads the FILES given (oldest first, plain or .gz) or else the \
            configured audit_log and its rotated siblings (audit.jsonl.2.gz, audit.jsonl.1, \
            audit.jsonl). The log is streamed: memory does not grow with its size.

            FILES may hold the logs of several proxies (each record names its proxy): show and \
            summary merge them in time order, verify checks each proxy's chain alone.

            Example:
              policyctl audit --key alex --since 2h
              policyctl audit summary
              policyctl audit follow --decision deny
              policyctl audit verify
              policyctl audit verify a/audit.jsonl.1 a/audit.jsonl b/audit.jsonl

            Exit status: 0 success (the chain intact for verify); 1 a line that is not a record, or \
            a broken chain; 2 usage error, unusable config, auditing off, no or unreadable log files.
            """,
        subcommands: [AuditShow.self, AuditSummary.self, AuditFollow.self, AuditVerify.self],
        defaultSubcommand: AuditShow.self
    )
}
