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

            Exit status: 0 intact (recoveries included); 1 broken (modified, deleted or truncated, at FILE:LINE); 2 usage \
            error, unusable config, no or unreadable log files.
            """
    )

    @OptionGroup var source: AuditFiles

    func run() throws {
        let files = try source.resolve()
        let verification: AuditVerification
        do {
            verification = try AuditVerifier(hash: { SHA256.hex($0) }).verify(files: files)
        } catch {
            if case .lineTooLong(let path, let line) = error {
                return try broken(AuditBreak(kind: .modified, file: path, line: line, detail: "line too long to be a record"))
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
                print("audit log intact: \(records) record\(records == 1 ? "" : "s"), seq \(first.seq)-\(last.seq) across \(count)\(recovered)")
            } else {
                print("audit log intact: 0 records across \(count)")
            }
            for note in recoveries { print(note.description) }
        case .broken(let place):
            try broken(place)
        }
    }

    private func broken(_ place: AuditBreak) throws {
        print("audit log BROKEN at \(place)")
        throw ExitCode(1)
    }
}
