import Foundation
import PortcullisPolicy
@testable import PortcullisServer
import PortcullisTestSupport

/// Admits the keys it was given and answers every forward request with `decide`.
struct TestAuthority: SessionAuthority {
    struct Rules: SessionRules {
        let keyName = "test-key"
        let decide: @Sendable (ForwardRequest) -> Decision
        var limits = KeyLimits()
        func decide(_ request: ForwardRequest) -> Decision { decide(request) }
    }

    let keys: Set<String>
    let decide: @Sendable (ForwardRequest) -> Decision
    /// The key's per-key limits (none by default).
    var limits = KeyLimits()

    func admit(user: String, key: PublicKey, client: Endpoint) -> Admission {
        keys.contains(key.base64) ? .admitted(Rules(decide: decide, limits: limits)) : .refused(reason: "unknown key")
    }
}

/// Collects the server's events so a test can wait for the one it expects.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ServerEvent] = []

    private static let trace = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_TRACE"] != nil

    func append(_ event: ServerEvent) {
        if Self.trace { FileHandle.standardError.write(Data("event: \(event)\n".utf8)) }
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var all: [ServerEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    func wait(for what: String, seconds: Double = 10, _ matches: (ServerEvent) -> Bool) throws {
        try waitUntil(what, seconds: seconds) { all.contains(where: matches) }
    }
}

/// A server on the patched libssh, on 127.0.0.1 with a port the kernel chose, with a throwaway host
/// key and a throwaway client key, and the `ssh` command line that reaches it.
final class TestServer {
    let directory: TemporaryDirectory
    let clientKey: KeyPair
    let events = EventLog()
    let server: SSHServer
    let port: Int

    /// `workers`: event-loop threads (0: one per core).
    /// `limits`: the test key's max_sessions, max_listens, max_channels.
    init(workers: Int = 0, loginGraceTime: Int = 10, limits: KeyLimits = KeyLimits(),
         decide: @escaping @Sendable (ForwardRequest) -> Decision = { _ in .allow(rule: .at("test.yaml", 1, "test")) },
         claims: any ListenClaims = AlwaysGranted()) throws {
        directory = try TemporaryDirectory()
        let hostKey = try KeyPair.generate(at: directory.file("host_key"))
        clientKey = try KeyPair.generate(at: directory.file("client_key"))
        var configuration = ServerConfiguration(listen: [Endpoint(host: "127.0.0.1", port: 0)],
                                                hostKeys: [hostKey.privatePath], socketRoot: directory.path)
        configuration.loginGraceTime = loginGraceTime
        configuration.workerThreads = workers
        configuration.listenClaims = claims
        let events = self.events
        server = SSHServer(configuration: configuration,
                           authority: TestAuthority(keys: [clientKey.base64], decide: decide, limits: limits),
                           observer: { events.append($0) })
        try server.start()
        port = server.endpoints[0].port
        try "[127.0.0.1]:\(port) \(hostKey.publicLine)\n"
            .write(toFile: directory.file("known_hosts"), atomically: true, encoding: .utf8)
    }

    deinit {
        server.stop()
    }

    /// The arguments that make the stock client use only this test's key and known_hosts.
    func sshArguments(_ extra: [String]) -> [String] {
        ["-F", "/dev/null",
         "-i", clientKey.privatePath,
         "-o", "IdentitiesOnly=yes",
         "-o", "UserKnownHostsFile=\(directory.file("known_hosts"))",
         "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes",
         "-o", "LogLevel=INFO",
         "-p", String(port)] + extra + ["tester@127.0.0.1"]
    }

    /// Starts `ssh` with `extra` arguments in the background.
    func ssh(_ extra: [String]) throws -> BackgroundProcess {
        try BackgroundProcess("/usr/bin/ssh", sshArguments(extra),
                              errorFile: directory.file("ssh-\(UUID().uuidString.prefix(8)).err"))
    }
}
