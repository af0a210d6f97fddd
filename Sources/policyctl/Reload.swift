import ArgumentParser
import Foundation
import PortcullisPolicy
import PortcullisServer

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running daemon re-read its config, and report whether it accepted it.",
        discussion: """
            Asks the daemon over its control socket (control_socket in --config, or \
            --control-socket PATH) and prints its answer. With --pid-file PATH instead (or when \
            control_socket is off), reads the daemon's pid from the file it writes with \
            `portcullisd --pid-file PATH`, sends it SIGHUP, and waits for the daemon to write its \
            answer to PATH.reload. Only a process running portcullisd is signalled: another pid \
            in the file is refused, naming what it is. A rejected config leaves the old one in \
            force; the daemon's message names file:line.

            Example:
              policyctl reload
              policyctl reload --pid-file /run/portcullis/portcullisd.pid

            Exit status: 0 accepted; 1 rejected, or no answer within --timeout; 2 usage error.
            """
    )

    @OptionGroup var control: ControlOptions
    @Option(help: ArgumentHelp("Signal the daemon named by this pid file (portcullisd --pid-file) instead of using the control socket.", valueName: "PATH")) var pidFile: String?
    @Flag(help: "Print JSON: accepted, pid, message.") var json = false

    struct Output: Encodable {
        let accepted: Bool
        let pid: Int32
        let message: String
    }

    /// Where the pid file is when control_socket is off and no --pid-file is given.
    static let defaultPidFile = "/run/portcullis/portcullisd.pid"

    func run() throws {
        if let pidFile {
            try signal(pidFile: pidFile)
            return
        }
        let path: String
        do {
            path = try control.socketPath()
        } catch {
            // control_socket is off: the pid file it is.
            guard error.code == 1 else { throw error }
            try signal(pidFile: Self.defaultPidFile)
            return
        }
        let response = try ControlClient.call(.reload, socket: path, timeout: control.timeout)
        guard response.ok, let outcome = response.reload else {
            throw Failure.refused(response.error ?? "the daemon's answer has no reload outcome")
        }
        if json {
            printJSON(Output(accepted: outcome.ok, pid: outcome.pid ?? 0, message: outcome.message))
        } else {
            print((outcome.ok ? "accepted: " : "rejected: ") + outcome.message)
            if let note = clusterNote { print(note) }
        }
        if !outcome.ok { throw ExitCode(1) }
    }

    /// Cluster mode: key entries are etcd's and need no reload.
    private var clusterNote: String? {
        guard (try? ConfigLoader.load(path: control.config))?.cluster != nil else { return nil }
        return "note: cluster mode: key changes in etcd apply by themselves on every proxy (a reload re-reads the main file)"
    }

    private func signal(pidFile: String) throws {
        let timeout = control.timeout
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else {
            throw Failure.refused("cannot read the pid file \(pidFile): is portcullisd running with --pid-file \(pidFile)?")
        }
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else {
            throw Failure.refused("\(pidFile) does not hold a process id")
        }
        // The pid file is the daemon's account's: it could name any process. Only portcullisd is signalled.
        if let problem = DaemonProcess.problem(pid: pid) {
            throw Failure.refused("not signalling pid \(pid) from \(pidFile): \(problem) (a stale pid file, "
                                  + "or one someone else wrote); `policyctl reload` through the control socket needs no pid file")
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
                    if let note = clusterNote { print(note) }
                }
                if !status.ok { throw ExitCode(1) }
                return
            }
            usleep(20_000)
        }
        throw Failure.refused("no answer from portcullisd (pid \(pid)) within \(timeout) s: is it running with --pid-file \(pidFile)?")
    }
}
