import ArgumentParser
import Foundation
import PortcullisAudit
import PortcullisPolicy

/// `policyctl audit verify`: checks the hash chain across the log's files.
struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit log's hash chain: no record changed, removed or cut short.",
        discussion: """
            Every line must be a record whose seq is one more than the one before and whose prev \
            is the SHA-256 of the line before. The first record may continue older, removed files; \
            a change to the very last record is beyond what a chain can show.

            An audit-recovered record is where portcullisd, starting after a crash, moved a torn \
            last line aside (to the side file it names, which must still hold those bytes when \
            found) or completed it: each is listed as a recovery, and does not count as a break. \
            A forged one that does not chain, or a torn line anywhere else, is still a break.

            Example:
              policyctl audit verify
              policyctl audit verify /var/log/portcullis/audit.jsonl.2.gz /var/log/portcullis/audit.jsonl.1
              policyctl audit verify a/audit.jsonl.1 a/audit.jsonl b/audit.jsonl

            Given the logs of several proxies (told apart by the proxy id in their records), each \
            proxy's files form a chain of their own and each is verified alone: one line per \
            proxy, starting with its id. A log from before proxy ids is one chain.

            Exit status: 0 intact (recoveries included); 1 broken (modified, deleted or truncated, at FILE:LINE; any proxy's chain); 2 usage \
            error, unusable config, no or unreadable log files.
            """
    )

    @OptionGroup var source: AuditFiles

    func run() throws {
        let chains = try source.resolveChains()
        var broken = false
        for chain in chains {
            // One proxy's log says what it always said; several say it per proxy.
            let prefix = chains.count > 1 ? "\(chain.name): " : ""
            if let line = try verify(chain.files, prefix: prefix) {
                print(line)
                broken = true
            }
        }
        if broken { throw ExitCode(1) }
    }

    /// Verifies one chain, printing the outcome when intact; returns the line naming a break.
    private func verify(_ files: [String], prefix: String) throws -> String? {
        let verification: AuditVerification
        do {
            verification = try AuditVerifier(hash: { SHA256.hex($0) }).verify(files: files)
        } catch {
            if case .lineTooLong(let path, let line) = error {
                return brokenLine(AuditBreak(kind: .modified, file: path, line: line, detail: "line too long to be a record"), prefix)
            }
            throw Failure.usage("cannot read \(error)")
        }
        switch verification {
        case .intact(let first, let last, let recoveries):
            let count = files.count == 1 ? "1 file" : "\(files.count) files"
            let recovered = recoveries.isEmpty ? ""
                : "; \(recoveries.count) crash recover\(recoveries.count == 1 ? "y" : "ies") (not tampering)"
            if let first, let last {
                let records = last.seq - first.seq + 1
                print("\(prefix)audit log intact: \(records) record\(records == 1 ? "" : "s"), seq \(first.seq)-\(last.seq) across \(count)\(recovered)")
            } else {
                print("\(prefix)audit log intact: 0 records across \(count)")
            }
            for note in recoveries { print("\(prefix)\(note.description)") }
            return nil
        case .broken(let place):
            return brokenLine(place, prefix)
        }
    }

    private func brokenLine(_ place: AuditBreak, _ prefix: String) -> String { "\(prefix)audit log BROKEN at \(place)" }
}
