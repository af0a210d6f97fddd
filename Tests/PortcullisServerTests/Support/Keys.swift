import Foundation
import PortcullisTestSupport

/// Throwaway OpenSSH keys made with ssh-keygen.
struct KeyPair {
    let privatePath: String
    /// The public key line, `ssh-ed25519 AAAA... comment`.
    let publicLine: String

    var algorithm: String { String(publicLine.split(separator: " ")[0]) }
    var base64: String { String(publicLine.split(separator: " ")[1]) }

    /// `SHA256:…` as ssh-keygen prints it.
    func fingerprint() throws -> String {
        let result = try run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", privatePath + ".pub"])
        guard result.status == 0, let field = result.stdout.split(separator: " ").dropFirst().first else {
            throw TestFailure("ssh-keygen -l failed: \(result.stderr)")
        }
        return String(field)
    }

    static func generate(at path: String, type: String = "ed25519") throws -> KeyPair {
        let result = try run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "test", "-f", path])
        guard result.status == 0 else { throw TestFailure("ssh-keygen failed: \(result.stderr)") }
        let line = try String(contentsOfFile: path + ".pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return KeyPair(privatePath: path, publicLine: line)
    }
}
