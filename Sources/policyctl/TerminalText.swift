/// Text from the log made safe for a terminal: user names, targets and reasons come from SSH
/// clients, and a control character or escape sequence in them must neither act on the
/// administrator's terminal nor break a row in two.
enum TerminalText {
    /// `text` with control characters (C0, DEL, C1) written as `\xHH` and bidirectional
    /// overrides and isolates as `\u{HHHH}`; a backslash stays as it is.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16, uppercase: false)
            out += scalar.value < 0x100 ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u{\(hex)}"
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }
}
