import Foundation
@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// The checks that find at --check time what would stop the daemon at start: host key files and
/// listen addresses, each named at its line. The key parser (libssh's) is stood in for here.
@Suite struct StartChecksTests {
    /// A config whose host_keys (from line 1) and listen (line 2) entries are given.
    static func problems(hostKeys: [String], listen: [String] = ["127.0.0.1:22"], in directory: TemporaryDirectory,
                         parse: (String, [UInt8]) -> String? = { _, _ in nil }) throws -> [String] {
        let quoted = { (items: [String]) in items.map { "\"\($0)\"" }.joined(separator: ", ") }
        let text = "host_keys: [\(quoted(hostKeys))]\nlisten: [\(quoted(listen))]\nsocket_root: /srv/p\n"
        let config = try ConfigLoader.load(path: try directory.write("portcullis.yaml", text))
        return StartChecks.problems(config, parse: parse).map { $0.description.replacingOccurrences(of: directory.path, with: "$DIR") }
    }

    static func key(_ directory: TemporaryDirectory, _ name: String, mode: mode_t) throws -> String {
        let path = try directory.write(name, "-----BEGIN OPENSSH PRIVATE KEY-----\n")
        #expect(chmod(path, mode) == 0)
        return path
    }

    @Test func aProtectedReadableKeyThatParsesPasses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try Self.key(directory, "host", mode: 0o600)
        var parsed: [String] = []
        #expect(try Self.problems(hostKeys: [path], listen: ["0.0.0.0:22", "[::]:2222", "[::1]:0"], in: directory) { path, bytes in
            parsed.append(path + ":" + String(decoding: bytes, as: UTF8.self))
            return nil
        } == [])
        #expect(parsed == [path + ":-----BEGIN OPENSSH PRIVATE KEY-----\n"])
    }

    @Test func missingNonRegularUnprotectedAndUnparsableKeysAreNamedAtTheirLine() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fifo = directory.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let open = try Self.key(directory, "open", mode: 0o644)
        let group = try Self.key(directory, "group", mode: 0o640)
        let bad = try Self.key(directory, "bad", mode: 0o400)
        let start = Date()
        let problems = try Self.problems(hostKeys: [directory.path + "/missing", fifo, open, group, bad], in: directory) { path, _ in
            path.hasSuffix("/bad") ? "not a private key libssh can load" : nil
        }
        // A FIFO is never opened: nothing waits for a writer.
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(problems == [
            "$DIR/portcullis.yaml:1: host_keys[0] \"$DIR/missing\": no such file",
            "$DIR/portcullis.yaml:1: host_keys[1] \"$DIR/fifo\": not a regular file (a FIFO)",
            "$DIR/portcullis.yaml:1: host_keys[2] \"$DIR/open\": UNPROTECTED PRIVATE KEY FILE: permissions 0644 let group or others at it (sshd refuses such a key too): chmod 600 it",
            "$DIR/portcullis.yaml:1: host_keys[3] \"$DIR/group\": UNPROTECTED PRIVATE KEY FILE: permissions 0640 let group or others at it (sshd refuses such a key too): chmod 600 it",
            "$DIR/portcullis.yaml:1: host_keys[4] \"$DIR/bad\": not a private key libssh can load",
        ])
    }

    @Test func aKeyTheCheckerCannotReadIsNamed() throws {
        // Root reads any file: only an unprivileged run can see permission denied.
        guard getuid() != 0 else { return }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try Self.key(directory, "host", mode: 0o000)
        #expect(try Self.problems(hostKeys: [path], in: directory)
                == ["$DIR/portcullis.yaml:1: host_keys[0] \"$DIR/host\": cannot read: permission denied (running as uid \(getuid()))"])
    }

    @Test func aListenHostThatIsNotANumericAddressDoesNotResolve() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try Self.key(directory, "host", mode: 0o600)
        // Numeric only: getaddrinfo in AI_NUMERICHOST mode never asks a resolver or the network.
        let problems = try Self.problems(hostKeys: [path], listen: ["127.0.0.1:22", "no-such-host.invalid:22", "localhost:2222"],
                                         in: directory)
        #expect(problems == [
            "$DIR/portcullis.yaml:2: listen[1] \"no-such-host.invalid:22\": does not resolve: \"no-such-host.invalid\" is not a numeric IPv4 or IPv6 address, and the daemon listens only on numeric addresses (it never looks a name up)",
            "$DIR/portcullis.yaml:2: listen[2] \"localhost:2222\": does not resolve: \"localhost\" is not a numeric IPv4 or IPv6 address, and the daemon listens only on numeric addresses (it never looks a name up)",
        ])
        // The daemon's --listen replaces the config's list and is named as such.
        let config = try ConfigLoader.load(path: directory.path + "/portcullis.yaml")
        #expect(StartChecks.problems(config, listen: [ListenAddress(host: "nowhere.invalid", port: 1)], parse: { _, _ in nil })
                    .map(\.description)
                == ["--listen: \"nowhere.invalid:1\": does not resolve: \"nowhere.invalid\" is not a numeric IPv4 or IPv6 address, and the daemon listens only on numeric addresses (it never looks a name up)"])
    }
}
