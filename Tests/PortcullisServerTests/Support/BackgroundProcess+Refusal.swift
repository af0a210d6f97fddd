import Foundation
import PortcullisTestSupport

extension BackgroundProcess {
    /// Connects through this `ssh -L` on `localPort` to a target the server refuses: the connection
    /// must close with nothing sent back, and ssh must report "open failed". Returns ssh's stderr.
    func refusedOpenReport(localPort: Int) throws -> String {
        let fd = try TestSocket.connectWhenListening(port: localPort)
        defer { close(fd) }
        guard try TestSocket.readToEnd(fd).isEmpty else { throw TestFailure("the refused channel sent data") }
        try waitUntil("ssh to report the refusal") { stderr.contains("open failed") }
        return stderr
    }
}
