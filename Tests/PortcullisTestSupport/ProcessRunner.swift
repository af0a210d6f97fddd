import Foundation

/// How a program that ran to completion ended, and what it wrote.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Standard output without surrounding whitespace.
    public var output: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Starts a program with posix_spawn: standard input from /dev/null, its output into files, and no
/// signal blocked or ignored (a test thread's blocked SIGCHLD would otherwise make a shell's `wait`
/// hang). Foundation's Process can miss a child's exit while another child it started still runs.
public func spawn(_ executable: String, _ arguments: [String], stdout: String = "/dev/null",
                  stderr: String = "/dev/null") throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard rc == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

/// A wait status as a shell shows it: the exit code, or 128 + the signal.
public func exitStatus(_ raw: Int32) -> Int32 {
    (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
}

/// Runs a program to completion and returns its exit status and output.
public func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let directory = try TemporaryDirectory()
    let pid = try spawn(executable, arguments, stdout: directory.file("out"), stderr: directory.file("err"))
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return ProcessResult(status: exitStatus(status),
                         stdout: (try? directory.read("out")) ?? "",
                         stderr: (try? directory.read("err")) ?? "")
}

/// A program left running in the background, killed when the test is done with it.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    private let errorFile: String
    private var status: Int32?

    public init(_ executable: String, _ arguments: [String], errorFile: String) throws {
        self.errorFile = errorFile
        pid = try spawn(executable, arguments, stdout: "/dev/null", stderr: errorFile)
    }

    deinit { stop() }

    public var isRunning: Bool {
        reap(blocking: false)
        return status == nil
    }

    /// The exit status, once it has exited.
    public var exitStatus: Int32? {
        reap(blocking: false)
        return status
    }

    /// What the program wrote to standard error so far.
    public var stderr: String { (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "" }

    public func stop() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        reap(blocking: true)
    }

    private func reap(blocking: Bool) {
        guard status == nil else { return }
        var raw: Int32 = 0
        if waitpid(pid, &raw, blocking ? 0 : WNOHANG) == pid {
            status = PortcullisTestSupport.exitStatus(raw)
        }
    }
}
