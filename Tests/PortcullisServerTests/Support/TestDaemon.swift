import Foundation
import PortcullisTestSupport

/// The real `portcullisd` binary, started from a config this test wrote: one throwaway key pair per
/// key name, each with the rule lines the test gives (YAML, indented as fields of a keys entry).
final class TestDaemon {
    let directory: TemporaryDirectory
    let socketRoot: String
    let port: Int
    let process: BackgroundProcess
    let configPath: String
    /// The audit log this daemon writes.
    let auditLog: String
    private var keys: [String: KeyPair] = [:]

    /// `keys`: key name to its rule lines, e.g. `["alex": "permit_listen: [\"localhost:*\"]"]`.
    /// `%ROOT%` in a rule stands for the socket root.
    /// `auditLog`: where the audit log goes (default: audit.jsonl in the test's directory);
    /// `arguments`: more daemon arguments.
    init(keys rules: KeyValuePairs<String, String>, extra: String = "", auditLog: String? = nil,
         arguments: [String] = []) throws {
        directory = try TemporaryDirectory()
        self.auditLog = auditLog ?? directory.file("audit.jsonl")
        socketRoot = directory.file("sockets")
        try FileManager.default.createDirectory(atPath: socketRoot, withIntermediateDirectories: true)
        let hostKey = try KeyPair.generate(at: directory.file("host_key"))
        port = try TestSocket.freePort()
        var yaml = """
            listen: ["127.0.0.1:\(port)"]
            host_keys: ["\(hostKey.privatePath)"]
            socket_root: "\(socketRoot)"
            limits: {login_grace_time: 10s, max_auth_tries: 6}
            audit_log: "\(self.auditLog)"
            control_socket: "\(directory.file("control.sock"))"
            \(extra)
            keys:

            """
        for (name, lines) in rules {
            let key = try KeyPair.generate(at: directory.file("key-\(name)"))
            keys[name] = key
            yaml += "  - name: \(name)\n    key: \"\(key.publicLine)\"\n"
            for line in lines.split(separator: "\n") {
                yaml += "    " + line.replacingOccurrences(of: "%ROOT%", with: socketRoot) + "\n"
            }
        }
        configPath = directory.file("portcullis.yaml")
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        try "[127.0.0.1]:\(port) \(hostKey.publicLine)\n"
            .write(toFile: directory.file("known_hosts"), atomically: true, encoding: .utf8)
        process = try BackgroundProcess(Self.binary, ["--config", configPath] + arguments,
                                        errorFile: directory.file("portcullisd.log"))
        try waitUntil("the daemon to listen") { process.stderr.contains("listening on") || !process.isRunning }
        guard process.isRunning else { throw TestFailure("portcullisd exited: \(process.stderr)") }
    }

    deinit {
        process.stop()
    }

    /// The portcullisd built next to this test bundle.
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/portcullisd").path
    }

    func key(_ name: String) -> KeyPair { keys[name]! }



    /// The stock client's arguments for logging in with key `name` as user `user` (default: `name`).
    func sshArguments(_ name: String, user: String? = nil, _ extra: [String]) -> [String] {
        ["-F", "/dev/null", "-i", key(name).privatePath, "-o", "IdentitiesOnly=yes",
         "-o", "UserKnownHostsFile=\(directory.file("known_hosts"))", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=INFO",
         "-p", String(port)] + extra + ["\(user ?? name)@127.0.0.1"]
    }

    func ssh(_ name: String, user: String? = nil, _ extra: [String]) throws -> BackgroundProcess {
        try BackgroundProcess("/usr/bin/ssh", sshArguments(name, user: user, extra),
                              errorFile: directory.file("ssh-\(UUID().uuidString.prefix(8)).err"))
    }

    func runSSH(_ name: String, user: String? = nil, _ extra: [String]) throws -> ProcessResult {
        try run("/usr/bin/ssh", sshArguments(name, user: user, extra))
    }
}
