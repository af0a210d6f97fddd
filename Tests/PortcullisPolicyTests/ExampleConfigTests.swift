import Foundation
import PortcullisTestSupport
import Testing
@testable import PortcullisPolicy

/// Config/portcullis.example.yaml, which the README points administrators to, stays a config the
/// loader accepts, with the two keys its comments describe (its keys_dir pointed at an empty one).
@Suite struct ExampleConfigTests {
    @Test func theExampleConfigLoads() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/portcullis.example.yaml").path
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("keys.d"), withIntermediateDirectories: true)
        let text = try String(contentsOfFile: example, encoding: .utf8)
        #expect(text.contains("keys_dir: /etc/portcullis/keys.d "))
        let config = try ConfigLoader.load(path: directory.write("portcullis.yaml",
            text.replacingOccurrences(of: "keys_dir: /etc/portcullis/keys.d ", with: "keys_dir: \(directory.file("keys.d")) ")))
        #expect(config.keys.map(\.name) == ["alex-laptop", "blake-desktop"])
        #expect(config.socketRoot == "/srv/portcullis")
    }
}
