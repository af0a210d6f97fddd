import ArgumentParser
import Foundation
import PortcullisServer

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon: version, uptime, config, sessions, forwards, bytes, audit backlog, last reload.",
        discussion: """
            Asks portcullisd over its control socket (control_socket in the config, or --control-socket).

            Example:
              policyctl status
              policyctl status --json --control-socket /run/portcullis/control.sock

            Exit status: 0 answered; 1 no daemon answers (or permission denied); 2 usage error.
            """
    )

    @OptionGroup var control: ControlOptions
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let response = try control.call(.status)
        guard let status = response.status else { throw Failure.refused("the daemon's answer has no status") }
        if json {
            printControlJSON(status)
            return
        }
        let totals = status.totals
        func kinds(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        print("portcullisd \(status.version) (pid \(status.pid)) on \(status.libssh)")
        print("up \(duration(status.uptimeSeconds)), since \(status.started)")
        print("config \(status.config) (sha256 \(status.configDigest)), loaded \(status.configLoaded)")
        print("sessions \(totals.sessions) (\(totals.authenticatedSessions) authenticated)")
        print("listens \(totals.listens.values.reduce(0, +)): \(kinds(totals.listens))")
        print("channels \(totals.channels.values.reduce(0, +)): \(kinds(totals.channels))")
        print("bytes \(totals.bytesToClient) to clients, \(totals.bytesFromClient) from clients")
        print("audit backlog \(status.auditBacklog) records")
        if let cluster = status.cluster { print("proxy \(cluster.proxy): " + TerminalText.visible(cluster.line)) }
        if let last = status.lastReload {
            print("last reload \(last.at ?? "?"): " + (last.ok ? "accepted: " : "rejected: ") + TerminalText.visible(last.message))
        } else {
            print("last reload: none since start")
        }
    }
}
