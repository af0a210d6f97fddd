import Foundation

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
