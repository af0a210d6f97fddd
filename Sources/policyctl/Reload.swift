import ArgumentParser
import Foundation
import PortcullisPolicy

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running daemon re-read its config, and report whether it accepted it.",
        discussion: """
            Reads the daemon's pid from the file it writes with `portcullisd --pid-file PATH`, sends \
            it SIGHUP, and waits for the daemon to write its answer to PATH.reload. A rejected \
            config leaves the old one in force; the daemon's message names file:line.

            Example:
              policyctl reload --pid-file /run/portcullis/portcullisd.pid

            Exit status: 0 accepted; 1 rejected, or no answer within --timeout; 2 usage error.
            """
    )

    @Option(help: ArgumentHelp("The daemon's pid file (portcullisd --pid-file).", valueName: "PATH")) var pidFile = "/run/portcullis/portcullisd.pid"
    @Option(help: ArgumentHelp("How long to wait for the daemon's answer.", valueName: "SECONDS")) var timeout: Double = 10
    @Flag(help: "Print JSON: accepted, pid, message.") var json = false

    struct Output: Encodable {
        let accepted: Bool
        let pid: Int32
        let message: String
    }

    func run() throws {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else {
            throw Failure.refused("cannot read the pid file \(pidFile): is portcullisd running with --pid-file \(pidFile)?")
        }
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else {
            throw Failure.refused("\(pidFile) does not hold a process id")
        }
        let before = ReloadStatus.read(pidFile: pidFile).flatMap { $0.pid == pid ? $0.sequence : nil } ?? 0
        guard kill(pid, SIGHUP) == 0 else {
            throw Failure.refused("cannot signal portcullisd (pid \(pid) from \(pidFile)): \(String(cString: strerror(errno)))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = ReloadStatus.read(pidFile: pidFile), status.pid == pid, status.sequence > before {
                if json { printJSON(Output(accepted: status.ok, pid: pid, message: status.message)) } else {
                    print((status.ok ? "accepted: " : "rejected: ") + status.message)
                }
                if !status.ok { throw ExitCode(1) }
                return
            }
            usleep(20_000)
        }
        throw Failure.refused("no answer from portcullisd (pid \(pid)) within \(timeout) s: is it running with --pid-file \(pidFile)?")
    }
}
