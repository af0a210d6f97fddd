import Foundation
@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

@Suite struct SHA256Tests {
    @Test("FIPS 180-2 vectors", arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vector(message: String, expected: String) {
        #expect(SHA256.hex(Array(message.utf8)) == expected)
    }

    @Test func oneMillionAs() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("padding boundaries: 55, 56, 63, 64, 65 bytes hash as one or two blocks")
    func paddingBoundaries() {
        // Known digests of "a" repeated n times.
        let expected = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            65: "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
        ]
        for (count, digest) in expected {
            #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: count)) == digest, "length \(count)")
        }
    }

    @Test func incrementalEqualsOneShot() {
        let message = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var hasher = SHA256()
        hasher.update(message[..<1]); hasher.update(message[1..<64]); hasher.update(message[64..<200]); hasher.update(message[200...])
        #expect(hasher.finalize() == SHA256.hash(message))
    }
}

@Suite struct FingerprintTests {
    static let keygen = "/usr/bin/ssh-keygen"

    @Test("fingerprints match ssh-keygen -l", arguments: [["-t", "ed25519"], ["-t", "rsa", "-b", "2048"], ["-t", "ecdsa", "-b", "256"], ["-t", "ecdsa", "-b", "384"], ["-t", "ecdsa", "-b", "521"]])
    func matchesSSHKeygen(type: [String]) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.keygen))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let keyPath = directory.path + "/key"
        let generated = try run(Self.keygen, type + ["-q", "-N", "", "-C", "test comment", "-f", keyPath])
        try #require(generated.status == 0)
        let listed = try run(Self.keygen, ["-l", "-E", "sha256", "-f", keyPath + ".pub"])
        try #require(listed.status == 0)
        // "256 SHA256:xxxx test comment (ED25519)"
        let expected = listed.output.split(separator: " ")[1]
        let line = try String(contentsOfFile: keyPath + ".pub", encoding: .utf8)
        let (key, comment) = try PublicKey.parse(line: line)
        #expect(key.fingerprint == String(expected))
        #expect(comment == "test comment")
        #expect(line.contains(key.base64))
        #expect(line.hasPrefix(key.algorithm + " "))
    }
}
