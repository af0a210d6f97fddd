import ArgumentParser
import Foundation
import PortcullisAudit

/// `policyctl audit follow`: new records as they are written, through rotation, until stopped.
struct AuditFollow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Print new audit records that pass the filters as they are written, until interrupted.",
        discussion: """
            Follows the last FILE (default: the configured audit_log), looking for new records \
            every 200 ms. Like tail -F it survives rotation: when the log is renamed (to \
            audit.jsonl.1) and a new one created, the old file is read to its end first; a log \
            truncated in place (copytruncate) is read again from its start. Only new records \
            are printed unless --from-start, which first prints the matching records of every \
            FILE (or of the rotated siblings and the log). The current log is read either way, \
            so identity filters know the sessions already open. SIGINT or SIGTERM ends it. It \
            follows one proxy's log; show and summary read several proxies' logs together.

            Example:
              policyctl audit follow --decision deny
              policyctl audit follow --key alex --from-start --json

            Exit status: 0 stopped by SIGINT/SIGTERM; 1 stopped, and some line was not a record \
            (named on stderr as FILE:LINE); 2 usage error, unusable config, unreadable file.
            """
    )

    @OptionGroup var source: AuditFiles
    @OptionGroup var filters: AuditFilterOptions
    @Flag(help: "Print matching records' lines exactly as in the log.") var json = false
    @Flag(help: "Print the existing matching records first.") var fromStart = false

    /// How long to wait between looks at the log.
    static let pollInterval: useconds_t = 200_000

    func run() throws {
        let filter = try filters.filter()
        let live: String
        var earlier: [String] = []
        if let last = source.files.last {
            live = last
            earlier = source.files.dropLast()
        } else {
            live = try source.configuredLog()
            earlier = ((try? AuditReader.logFiles(of: live)) ?? []).filter { $0 != live }
        }
        if live.hasSuffix(".gz") { throw Failure.usage("cannot follow \(live): a compressed file does not grow") }
        let directory = URL(fileURLWithPath: live).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory) else { throw Failure.usage("cannot follow \(live): no directory \(directory)") }
        if fromStart { for file in earlier { try AuditFiles.checkReadable(file) } }
        StopSignal.install()
        let scan = AuditScan(filter: filter)
        let tail = try LogTail(path: live, note: { scan.report($0, problem: $1) })
        func show(_ bytes: [UInt8], _ match: AuditMatcher.Match) {
            guard match.matches else { return }
            if json { StandardOutput.writeLine(bytes) } else { print(AuditTable.row(match.record, identity: match.identity)) }
        }
        if !json { print(AuditTable.header) }
        if fromStart {
            try scan.run(files: earlier) { line, match in show(line.bytes, match) }
        } else {
            try tail.poll(upTo: tail.currentSize) { bytes, _, _ in scan.observe(bytes) }
        }
        if tail.currentSize == 0, !FileManager.default.fileExists(atPath: live) {
            scan.report("\(live) does not exist yet; waiting for it", problem: false)
        }
        StandardOutput.flush()
        while !StopSignal.isRaised {
            try tail.poll { bytes, file, number in
                if let match = scan.take(bytes, file: file, number: number) { show(bytes, match) }
            }
            StandardOutput.flush()
            usleep(Self.pollInterval)
        }
        if scan.problems > 0 { throw ExitCode(1) }
    }
}
