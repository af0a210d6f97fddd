import Foundation
@testable import PortcullisPolicy
import Testing

@Suite struct PublicKeyLineTests {
    static func blob(_ fields: [[UInt8]]) -> String {
        Data(fields.flatMap(TestKeys.sshString)).base64EncodedString()
    }

    @Test func parsesAlgorithmBase64AndComment() throws {
        let line = TestKeys.ed25519Line(7, comment: "alex@laptop with spaces")
        let (key, comment) = try PublicKey.parse(line: line + "\n")
        #expect(key.algorithm == "ssh-ed25519")
        #expect(comment == "alex@laptop with spaces")
        #expect(key.fingerprint.hasPrefix("SHA256:"))
        #expect(!key.fingerprint.contains("="))
        #expect(key.fingerprint.count == 7 + 43)
        #expect(try PublicKey.parse(line: TestKeys.ed25519Line(7, comment: nil)).comment == nil)
        #expect(try PublicKey(line: "  " + TestKeys.ed25519Line(7).replacingOccurrences(of: " ", with: "\t")) == key)
    }

    @Test func securityKeyAndECDSABlobsAreAccepted() throws {
        let point = [UInt8(4)] + [UInt8](repeating: 9, count: 64)
        let sk = "sk-ecdsa-sha2-nistp256@openssh.com"
        _ = try PublicKey(line: "\(sk) \(Self.blob([Array(sk.utf8), Array("nistp256".utf8), point, Array("ssh:".utf8)]))")
        let skEd = "sk-ssh-ed25519@openssh.com"
        _ = try PublicKey(line: "\(skEd) \(Self.blob([Array(skEd.utf8), [UInt8](repeating: 1, count: 32), Array("ssh:".utf8)]))")
        _ = try PublicKey(line: "ecdsa-sha2-nistp256 \(Self.blob([Array("ecdsa-sha2-nistp256".utf8), Array("nistp256".utf8), point]))")
    }

    @Test("bad key lines are refused with a reason", arguments: [
        ("", "expected an OpenSSH public key line"),
        ("ssh-ed25519", "expected an OpenSSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported key type \"ssh-dss\""),
        ("no-port-forwarding ssh-ed25519 AAAA", "unsupported key type \"no-port-forwarding\""),
        ("ssh-ed25519-cert-v01@openssh.com AAAA", "unsupported key type"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        ("ssh-ed25519 AAAA", "truncated"),
    ])
    func refused(line: String, message: String) {
        #expect {
            try PublicKey.parse(line: line)
        } throws: { error in
            (error as? PatternError)?.message.contains(message) == true
        }
    }

    @Test func blobMustNameTheLinesAlgorithm() {
        let ed = TestKeys.ed25519Line(1).split(separator: " ")[1]
        #expect(throws: PatternError("key blob is for ssh-ed25519, not ssh-rsa")) { try PublicKey(line: "ssh-rsa \(ed)") }
    }

    @Test func blobStructureIsChecked() {
        let name = Array("ssh-ed25519".utf8)
        let short = Self.blob([name, [UInt8](repeating: 1, count: 31)])
        let trailing = Self.blob([name, [UInt8](repeating: 1, count: 32), [1]])
        let truncated = Data(TestKeys.sshString(name) + [0, 0, 0, 32, 1, 2]).base64EncodedString()
        for base64 in [short, trailing] {
            #expect(throws: PatternError("malformed ssh-ed25519 key blob")) { try PublicKey(line: "ssh-ed25519 \(base64)") }
        }
        #expect(throws: PatternError("key blob is truncated")) { try PublicKey(line: "ssh-ed25519 \(truncated)") }
        let rsa = Self.blob([Array("ssh-rsa".utf8), [1, 0, 1], [0] + [UInt8](repeating: 0xff, count: 64)])
        #expect(throws: PatternError("RSA key of 512 bits is too small (minimum 1024)")) { try PublicKey(line: "ssh-rsa \(rsa)") }
        let wrongCurve = Self.blob([Array("ecdsa-sha2-nistp256".utf8), Array("nistp384".utf8), [4] + [UInt8](repeating: 0, count: 64)])
        #expect(throws: PatternError("malformed ecdsa-sha2-nistp256 key blob")) { try PublicKey(line: "ecdsa-sha2-nistp256 \(wrongCurve)") }
    }

    @Test func fingerprintIsOfTheDecodedBlob() throws {
        let key = try PublicKey(line: TestKeys.ed25519Line(3))
        let blob = [UInt8](Data(base64Encoded: key.base64)!)
        #expect(key.fingerprint == PublicKey.fingerprint(ofBlob: blob))
    }
}
