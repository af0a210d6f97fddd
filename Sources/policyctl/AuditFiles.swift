import ArgumentParser
import Foundation
import PortcullisAudit
import PortcullisPolicy

/// Which log files an audit command reads: FILES, or the configured log and its rotated siblings.
struct AuditFiles: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("Log files, oldest first, plain or .gz (default: the configured audit_log and its rotated siblings).",
                                 valueName: "FILE"))
    var files: [String] = []

    /// The files to read, oldest first, each checked to be a readable file.
    func resolve() throws(Failure) -> [String] {
        let found: [String]
        if files.isEmpty {
            let log = try configuredLog()
            do { found = try AuditReader.logFiles(of: log) } catch {
                throw Failure.usage("cannot list the audit log's directory: \(error)")
            }
            guard !found.isEmpty else { throw Failure.usage("no audit log at \(log) (nor rotated copies of it)") }
        } else {
            found = files
            // `policyctl audit --config X summary` reads "summary" as a FILE of the default subcommand.
            if let word = files.first(where: { name in Audit.configuration.subcommands.contains { $0.configuration.commandName == name } }),
               !FileManager.default.fileExists(atPath: word) {
                throw Failure.usage("\(word): no such file; options go after the subcommand: policyctl audit \(word) [OPTIONS] [FILE...]")
            }
        }
        for file in found { try Self.checkReadable(file) }
        return found
    }

    /// The configured `audit_log`; auditing switched off is a usage error.
    func configuredLog() throws(Failure) -> String {
        guard let log = try options.loadSettings().auditLog else {
            throw Failure.usage("auditing is off in \(options.config) (audit_log: off); name the log files to read")
        }
        return log
    }

    /// Fails naming `path` unless it is a regular file this process can open for reading.
    static func checkReadable(_ path: String) throws(Failure) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure.usage("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw Failure.usage("cannot read \(path): not a regular file")
        }
    }
}
