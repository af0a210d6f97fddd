import ArgumentParser
import Foundation
import PortcullisServer

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List the daemon's sessions: key, user, client, start, idle time, listens, channels and their bytes.",
        discussion: """
            Asks portcullisd over its control socket (control_socket in the config, or --control-socket).

            Example:
              policyctl sessions
              policyctl sessions --key alex --json

            Exit status: 0 answered; 1 no daemon answers (or permission denied); 2 usage error.
            """
    )

    @OptionGroup var control: ControlOptions
    @Option(help: ArgumentHelp("Only the sessions of this key.", valueName: "NAME")) var key: String?
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func run() throws {
        let sessions = try control.call(.sessions(key: key)).sessions ?? []
        if json {
            printControlJSON(sessions)
            return
        }
        guard !sessions.isEmpty else {
            print(key.map { "no sessions of key \(TerminalText.visible($0))" } ?? "no sessions")
            return
        }
        print(SessionTable.render(sessions))
    }
}

/// Sessions as a table, one row each, their listens and channels indented below.
enum SessionTable {
    static func render(_ sessions: [ControlSession]) -> String {
        let header = ["SESSION", "KEY", "USER", "CLIENT", "STARTED", "IDLE", "LISTENS", "CHANNELS"]
        let rows = sessions.map { session in
            [String(session.id), TerminalText.visible(session.key ?? "-"), TerminalText.visible(session.user ?? "-"),
             session.client, session.started, duration(session.idleSeconds), String(session.listens.count),
             String(session.channels.count)]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines = [line(header)]
        for (session, row) in zip(sessions, rows) {
            lines.append(line(row))
            for listen in session.listens {
                lines.append("    listen \(TerminalText.visible(listen))")
            }
            for channel in session.channels {
                lines.append("    channel \(channel.id) \(channel.kind) \(TerminalText.visible(channel.target)): "
                             + "\(channel.bytesToClient) bytes to client, \(channel.bytesFromClient) from client")
            }
        }
        return lines.joined(separator: "\n")
    }
}
