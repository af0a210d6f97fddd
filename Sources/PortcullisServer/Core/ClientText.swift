import Foundation
import PortcullisPolicy

/// Text an unauthenticated client chose (a user name, a libssh error quoting its algorithm lists),
/// made safe to record: bytes that are not UTF-8 and control characters are escaped, never
/// replaced, and anything longer than `limit` bytes is cut, saying so, so that a failed login
/// costs a bounded amount of log.
enum ClientText {
    /// The most bytes of one client-controlled field a record or log line keeps.
    static let limit = 256
    /// The most bytes of a reason a record or log line keeps: a reason may quote client text.
    static let reasonLimit = 2 * limit

    /// A user name as the client sent it: its text (escaped with ``escapedBytes`` unless it is
    /// valid UTF-8 without control characters), and why it cannot be a user name, if it cannot.
    static func userName(_ bytes: some Collection<UInt8>) -> (text: String, problem: String?) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return (escapedBytes(bytes), "user name is not valid UTF-8")
        }
        if text.unicodeScalars.contains(where: isControl) {
            return (escapedBytes(bytes), "user name contains control characters")
        }
        return (text, nil)
    }

    /// `text` with every control character written `\xNN`, so that a reason quoting the client
    /// stays one line of the daemon's log.
    static func withoutControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out.append(contentsOf: String(format: "\\x%02x", scalar.value).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    /// `text`, cut to at most `limit` bytes (at a character boundary) plus a mark saying how long
    /// it was, e.g. `alexalex…(cut, 200000 bytes)`; unchanged if it fits.
    /// Capping what is already capped to the same limit changes nothing.
    static func capped(_ text: String, limit: Int = limit) -> String {
        let size = text.utf8.count
        guard size > limit, !isCapped(text, limit: limit) else { return text }
        return head(of: text, limit: limit) + "…(cut, \(size) bytes)"
    }

    /// Bytes a client sent, escaped (``escapedBytes``) and, if they are more than `limit` or their
    /// escaped text is, cut the same way and marked with how many bytes were sent.
    static func capped(bytes: some Collection<UInt8>, limit: Int = limit) -> String {
        let shown = escapedBytes(bytes.prefix(limit))
        guard bytes.count > limit || shown.utf8.count > limit else { return shown }
        return head(of: shown, limit: limit) + "…(cut, \(bytes.count) bytes)"
    }

    /// The longest start of `text` of at most `limit` bytes that ends at a character boundary.
    private static func head(of text: String, limit: Int) -> Substring {
        var end = text.startIndex
        var used = 0
        for character in text {
            used += character.utf8.count
            guard used <= limit else { break }
            end = text.index(after: end)
        }
        return text[..<end]
    }

    /// Whether `text` is what `capped` made of a longer text, with at most `limit` bytes kept.
    private static func isCapped(_ text: String, limit: Int) -> Bool {
        guard text.hasSuffix(" bytes)"), let mark = text.range(of: "…(cut, ", options: .backwards) else { return false }
        let digits = text[mark.upperBound...].dropLast(" bytes)".count)
        guard let original = Int(digits), original > limit else { return false }
        return text[..<mark.lowerBound].utf8.count <= limit
    }
}
