import Foundation
import Testing
import PortcullisTestSupport

/// A throwaway ed25519 key pair; returns the public line.
func makeKey(_ path: String, comment: String = "test") throws -> String {
    let result = try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
    guard result.status == 0 else { throw TestFailure("ssh-keygen: \(result.stderr)") }
    return try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A config made by `policyctl init` in a scratch directory, and a way to run policyctl on it.
final class Installation {
    let scratch: TemporaryDirectory
    let config: String
    let socketRoot: String
    var keysDir: String { scratch.file("etc/keys.d") }

    init() throws {
        scratch = try TemporaryDirectory()
        config = scratch.file("etc/portcullis.yaml")
        socketRoot = scratch.file("sockets")
        let result = try policyctl(["init", "--socket-root", socketRoot, "--listen", "127.0.0.1:2222"])
        guard result.status == 0 else { throw TestFailure("init: \(result.stderr)") }
    }

    /// Runs `policyctl ARGS --config CONFIG` (the config option after the subcommand).
    @discardableResult
    func policyctl(_ arguments: [String]) throws -> ProcessResult {
        var arguments = arguments
        arguments.insert(contentsOf: ["--config", config], at: arguments.isEmpty ? 0 : 1)
        return try run(policyctlBinary, arguments)
    }

    func newKey(_ name: String, comment: String = "test") throws -> String {
        try makeKey(scratch.file("key-\(name)"), comment: comment)
    }
}

/// The policyctl built next to this test bundle.
let policyctlBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/debug/policyctl").path
