import Foundation

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Starts `executable` with posix_spawn, standard input from /dev/null and its output into files.
/// (Foundation's Process can miss a child's exit while another child it started is still running.)
private func spawn(_ executable: String, _ arguments: [String], stdout: String, stderr: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard rc == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

private func decodeExitStatus(_ status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Runs a program to completion and returns its exit status and output.
func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let directory = try TemporaryDirectory()
    let pid = try spawn(executable, arguments, stdout: directory.file("out"), stderr: directory.file("err"))
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return ProcessResult(status: decodeExitStatus(status),
                         stdout: (try? String(contentsOfFile: directory.file("out"), encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: directory.file("err"), encoding: .utf8)) ?? "")
}

/// A program left running in the background, stopped when the test is done with it.
final class BackgroundProcess {
    let pid: pid_t
    private let errorFile: String
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], errorFile: String) throws {
        self.errorFile = errorFile
        pid = try spawn(executable, arguments, stdout: "/dev/null", stderr: errorFile)
    }

    deinit {
        stop()
    }

    var isRunning: Bool {
        reap(blocking: false)
        return status == nil
    }

    /// The exit status, once it has exited.
    var exitStatus: Int32? {
        reap(blocking: false)
        return status
    }

    /// What the program wrote to standard error so far.
    var stderr: String { (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "" }

    func stop() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        reap(blocking: true)
    }

    private func reap(blocking: Bool) {
        guard status == nil else { return }
        var raw: Int32 = 0
        if waitpid(pid, &raw, blocking ? 0 : WNOHANG) == pid {
            status = decodeExitStatus(raw)
        }
    }
}

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
