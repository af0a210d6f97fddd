import Foundation
import Testing
import PortcullisTestSupport

/// Who may log in to the real daemon: expired keys, keys outside `from`, and keys logging in as
/// the wrong user are refused as OpenSSH refuses them.
@Suite struct DaemonAdmissionTests {
    private func login(_ daemon: TestDaemon, _ key: String, user: String? = nil) throws -> ProcessResult {
        try daemon.runSSH(key, user: user, ["-N", "-o", "ConnectTimeout=5", "-o", "ExitOnForwardFailure=yes",
                                            "-R", "\(daemon.socketRoot)/probe-\(key).sock:127.0.0.1:9"])
    }

    @Test func expiredKeyWrongFromAndWrongUserAreDenied() throws {
        let daemon = try TestDaemon(keys: [
            "expired": "expires: \"2020-01-01T00:00:00Z\"\npermit_streamlocal_listen: [\"%ROOT%/*.sock\"]",
            "elsewhere": "from: [\"192.0.2.0/24\", \"!127.0.0.1\"]\npermit_streamlocal_listen: [\"%ROOT%/*.sock\"]",
            "erin": "user: erin\npermit_streamlocal_listen: [\"%ROOT%/*.sock\"]",
        ])
        for (key, user) in [("expired", "expired"), ("elsewhere", "elsewhere"), ("erin", "root")] {
            let result = try login(daemon, key, user: user)
            #expect(result.status == 255, "\(key)")
            #expect(result.stderr.contains("Permission denied (publickey)"), "\(key): \(result.stderr)")
        }
        #expect(daemon.process.stderr.contains("refused key"))
    }

    @Test func matchingUserAndFromAreAdmitted() throws {
        let daemon = try TestDaemon(keys: [
            "erin": "user: erin\nfrom: [\"127.0.0.0/8\", \"!10.0.0.1\"]\nexpires: \"2099-01-01T00:00:00Z\"\n"
                + "permit_streamlocal_listen: [\"%ROOT%/*.sock\"]",
        ])
        let ssh = try daemon.ssh("erin", user: "erin", ["-N", "-o", "ExitOnForwardFailure=yes",
                                                        "-R", "\(daemon.socketRoot)/erin.sock:127.0.0.1:9"])
        try waitUntil("erin's socket") { FileManager.default.fileExists(atPath: "\(daemon.socketRoot)/erin.sock") }
        #expect(ssh.isRunning)
    }
}
