import Foundation
import Testing

/// A directory of its own for one test, removed afterwards.
final class Scratch {
    let path: String

    init() throws {
        var template = Array("/tmp/pctl-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failed("mkdtemp failed") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }
}

struct Failed: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Outcome {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a program to completion, output captured through files. posix_spawn and waitpid on
/// that pid: Foundation's Process can miss an exit while other children run (tests run in parallel).
func execute(_ executable: String, _ arguments: [String]) throws -> Outcome {
    let scratch = try Scratch()
    let pid = try spawn(executable, arguments, stdout: scratch.file("out"), stderr: scratch.file("err"))
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    return Outcome(status: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f),
                   stdout: try scratch.read("out"), stderr: try scratch.read("err"))
}

/// Starts a program with standard input from /dev/null, its output into files, and no signal blocked
/// (a test thread's blocked SIGCHLD would otherwise make a shell's `wait` hang).
func spawn(_ executable: String, _ arguments: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> pid_t {
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
    guard rc == 0 else { throw Failed("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

/// A throwaway ed25519 key pair; returns the public line.
func makeKey(_ path: String, comment: String = "test") throws -> String {
    let result = try execute("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
    guard result.status == 0 else { throw Failed("ssh-keygen: \(result.stderr)") }
    return try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A config made by `policyctl init` in a scratch directory, and a way to run policyctl on it.
final class Installation {
    let scratch: Scratch
    let config: String
    let socketRoot: String
    var keysDir: String { scratch.file("etc/keys.d") }

    init() throws {
        scratch = try Scratch()
        config = scratch.file("etc/portcullis.yaml")
        socketRoot = scratch.file("sockets")
        let result = try policyctl(["init", "--socket-root", socketRoot, "--listen", "127.0.0.1:2222"])
        guard result.status == 0 else { throw Failed("init: \(result.stderr)") }
    }

    /// Runs `policyctl ARGS --config CONFIG` (the config option after the subcommand).
    @discardableResult
    func policyctl(_ arguments: [String]) throws -> Outcome {
        var arguments = arguments
        arguments.insert(contentsOf: ["--config", config], at: arguments.isEmpty ? 0 : 1)
        return try execute(policyctlBinary, arguments)
    }

    func newKey(_ name: String, comment: String = "test") throws -> String {
        try makeKey(scratch.file("key-\(name)"), comment: comment)
    }
}

/// The policyctl built next to this test bundle.
let policyctlBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/debug/policyctl").path
