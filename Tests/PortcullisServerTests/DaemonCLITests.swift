import Foundation
import Testing
import PortcullisTestSupport

/// portcullisd's command line: --version, --check, and a config error that names file:line.
@Suite struct DaemonCLITests {
    @Test func versionNamesTheLibsshBuild() throws {
        let result = try run(TestDaemon.binary, ["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("portcullisd "))
        #expect(result.stdout.contains("libssh 0.10.6-"))
        #expect(result.stdout.contains("portcullis patches"))
    }

    @Test func checkAcceptsAValidConfigAndNamesTheLineOfAnInvalidOne() throws {
        let directory = try TemporaryDirectory()
        let key = try KeyPair.generate(at: directory.file("alex"))
        _ = try KeyPair.generate(at: directory.file("host"))
        let good = """
            host_keys: ["\(directory.file("host"))"]
            socket_root: "\(directory.path)"
            keys:
              - name: alex
                key: "\(key.publicLine)"
                permit_open: ["127.0.0.1:5900"]

            """
        try good.write(toFile: directory.file("good.yaml"), atomically: true, encoding: .utf8)
        let valid = try run(TestDaemon.binary, ["--config", directory.file("good.yaml"), "--check"])
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stdout.contains("OK"))

        let bad = good.replacingOccurrences(of: "127.0.0.1:5900", with: "127.0.0.1")
        try bad.write(toFile: directory.file("bad.yaml"), atomically: true, encoding: .utf8)
        let invalid = try run(TestDaemon.binary, ["--config", directory.file("bad.yaml"), "--check"])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("\(directory.file("bad.yaml")):6:"))
    }

    @Test func listenOverridesTheConfig() throws {
        let port = try TestSocket.freePort()
        let daemon = try TestDaemon(keys: ["alex": "permit_open: [\"127.0.0.1:1\"]"])
        daemon.process.stop()
        let overridden = try BackgroundProcess(TestDaemon.binary,
                                               ["--config", daemon.configPath, "--listen", "127.0.0.1:\(port)"],
                                               errorFile: daemon.directory.file("override.log"))
        defer { overridden.stop() }
        try waitUntil("the daemon to listen") { overridden.stderr.contains("listening on 127.0.0.1:\(port)") }
    }
}
