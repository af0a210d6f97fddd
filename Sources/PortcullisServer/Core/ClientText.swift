import Foundation

/// Text an unauthenticated client chose (a user name, a libssh error quoting its algorithm lists),
/// made safe to record: bytes that are not UTF-8 are escaped, never replaced, and anything longer
/// than `limit` bytes is cut, saying so, so that a failed login costs a bounded amount of log.
enum ClientText {
    /// The most bytes of one client-controlled field a record or log line keeps.
    static let limit = 256

    /// `bytes` as text: as sent if they are UTF-8 (`valid`), else with every byte of an invalid
    /// sequence written `\xNN` (and a backslash as `\\`, so the escaping cannot be forged).
    static func decode(_ bytes: some Collection<UInt8>) -> (text: String, valid: Bool) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, true) }
        var text = ""
        var raw = Array(bytes)[...]
        while !raw.isEmpty {
            let length = Self.sequenceLength(raw)
            if length > 0, let scalar = String(validating: raw.prefix(length), as: UTF8.self) {
                text += scalar == "\\" ? "\\\\" : scalar
                raw = raw.dropFirst(length)
            } else {
                text += "\\x" + String(raw.first!, radix: 16, uppercase: false).leftPadded(to: 2)
                raw = raw.dropFirst()
            }
        }
        return (text, false)
    }

    /// `text`, cut to at most `limit` bytes (at a character boundary) plus a mark saying how long
    /// it was, e.g. `alexalex…(cut, 200000 bytes)`; unchanged if it fits.
    /// Capping what is already capped to the same limit changes nothing.
    static func capped(_ text: String, limit: Int = limit) -> String {
        let size = text.utf8.count
        guard size > limit, !isCapped(text, limit: limit) else { return text }
        var end = text.startIndex
        var used = 0
        for character in text {
            used += character.utf8.count
            guard used <= limit else { break }
            end = text.index(after: end)
        }
        return String(text[..<end]) + "…(cut, \(size) bytes)"
    }

    /// Whether `text` is what `capped` made of a longer text, with at most `limit` bytes kept.
    private static func isCapped(_ text: String, limit: Int) -> Bool {
        guard text.hasSuffix(" bytes)"), let mark = text.range(of: "…(cut, ", options: .backwards) else { return false }
        let digits = text[mark.upperBound...].dropLast(" bytes)".count)
        guard let original = Int(digits), original > limit else { return false }
        return text[..<mark.lowerBound].utf8.count <= limit
    }

    /// The length of the UTF-8 sequence `bytes` starts with, by its lead byte (0: not a lead byte).
    private static func sequenceLength(_ bytes: ArraySlice<UInt8>) -> Int {
        switch bytes.first! {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
