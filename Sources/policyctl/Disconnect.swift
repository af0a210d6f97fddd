import ArgumentParser
import Foundation
import PortcullisServer

struct Disconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect",
        abstract: "End a session, or every session of a key, and print what was ended.",
        discussion: """
            The client is sent SSH_MSG_DISCONNECT "disconnected by administrator"; its forwards and \
            socket files go with it, and each session's close is audited with that reason.

            Example:
              policyctl disconnect 1042
              policyctl disconnect --key alex

            Exit status: 0 ended; 1 no such session (or no session of the key), or no daemon answers; \
            2 usage error.
            """
    )

    @OptionGroup var control: ControlOptions
    @Argument(help: ArgumentHelp("The session id (policyctl sessions).", valueName: "SESSION")) var session: UInt64?
    @Option(help: ArgumentHelp("End every session of this key.", valueName: "NAME")) var key: String?
    @Flag(help: "Print the daemon's answer as JSON.") var json = false

    func validate() throws {
        guard (session == nil) != (key == nil) else {
            throw ValidationError("give a SESSION id or --key NAME (one of them)")
        }
    }

    func run() throws {
        let target: ControlProtocol.Target = session.map { .session($0) } ?? .key(key!)
        let ended = try control.call(.disconnect(target)).sessions ?? []
        if json {
            printControlJSON(ended)
            return
        }
        for session in ended {
            print("disconnected session \(session.id) (key \(TerminalText.visible(session.key ?? "-")), "
                  + "user \(TerminalText.visible(session.user ?? "-")), client \(session.client))")
        }
    }
}
