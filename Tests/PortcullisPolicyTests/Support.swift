import Foundation
@testable import PortcullisPolicy

/// Key lines and entries for tests.
enum TestKeys {
    /// A well-formed ssh-ed25519 key line whose 32 key bytes derive from `seed`.
    static func ed25519Line(_ seed: Int, comment: String? = "test@example") -> String {
        var blob = sshString(Array("ssh-ed25519".utf8))
        let seedBytes = (0..<4).map { UInt8(truncatingIfNeeded: seed >> (8 * $0)) }
        blob += sshString(seedBytes + (4..<32).map { UInt8(truncatingIfNeeded: seed &* 31 &+ $0 &* 7) })
        return "ssh-ed25519 " + Data(blob).base64EncodedString() + (comment.map { " " + $0 } ?? "")
    }

    static func sshString(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)] + bytes
    }

    static func key(_ seed: Int) -> PublicKey {
        try! PublicKey(line: ed25519Line(seed))
    }
}

/// Where test rules come from: line `n` of `rules.yaml`.
func at(_ line: Int) -> SourceLocation { SourceLocation(file: "rules.yaml", line: line) }

/// A key entry whose rules sit on consecutive lines: listen from 10, open from 20,
/// streamlocal listen from 30, streamlocal open from 40.
func makeEntry(
    name: String = "alex", seed: Int = 1, user: String? = nil, from: [String]? = nil, expires: Date? = nil,
    listen: [String] = [], open: [String] = [], streamListen: [String] = [], streamOpen: [String] = []
) throws -> KeyEntry {
    KeyEntry(
        name: name, key: TestKeys.key(seed), user: user, from: try from.map { try AddressMatch($0) }, expires: expires,
        permitListen: try listen.enumerated().map { try ListenRule($1, location: at(10 + $0)) },
        permitOpen: try open.enumerated().map { try OpenRule($1, location: at(20 + $0)) },
        permitStreamLocalListen: try streamListen.enumerated().map { try PathRule($1, location: at(30 + $0)) },
        permitStreamLocalOpen: try streamOpen.enumerated().map { try PathRule($1, location: at(40 + $0)) },
        location: at(1)
    )
}

func makePolicy(_ entries: [KeyEntry] = [], socketRoot: String = "/srv/portcullis", allowPrivilegedPorts: Bool = false) -> Policy {
    Policy(config: PolicyConfig(hostKeys: ["/etc/portcullis/host_key"], socketRoot: socketRoot,
                                allowPrivilegedPorts: allowPrivilegedPorts, keys: entries))
}

extension Decision {
    /// The granting rule as `FILE:LINE PATTERN`.
    var rule: String? {
        if case .allow(let grant) = self { return grant.description }
        return nil
    }
    var reason: String? {
        if case .deny(let reason) = self { return reason }
        return nil
    }
}
