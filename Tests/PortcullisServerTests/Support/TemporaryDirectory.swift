import Foundation

/// A directory of its own for one test, removed when the test is done with it. The path is short,
/// so Unix socket paths inside it stay well under the 107-byte limit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/pc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Waits until `condition` holds, checking every few milliseconds, and fails after `seconds`.
func waitUntil(_ what: String, seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try !condition() {
        guard Date() < deadline else { throw TestFailure("timed out waiting for \(what)") }
        usleep(5_000)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// Where two byte sequences first differ (a length difference counts), or nil when they are equal;
/// compared this way so a failure reports an offset instead of megabytes.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if let index = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset { return index }
    return a.count == b.count ? nil : min(a.count, b.count)
}
