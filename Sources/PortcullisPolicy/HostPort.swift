/// Splits rule and address text of the form `port`, `host:port` or `[host]:port`.
enum HostPort {
    /// The host (nil if the text is a bare port, brackets removed) and the port text.
    static func split(_ text: String, portOptional: Bool) -> (host: String?, port: Substring)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            // "[[a]:1" would give host "[a", whose "[a:1" does not read back.
            guard rest.hasPrefix(":"), !host.isEmpty, !host.utf8.contains(UInt8(ascii: "[")) else { return nil }
            return (host, rest.dropFirst())
        }
        guard let colon = text.lastIndex(of: ":") else {
            return portOptional ? (nil, Substring(text)) : nil
        }
        let host = String(text[..<colon])
        guard !host.utf8.contains(UInt8(ascii: ":")) else { return nil }
        return (host, text[text.index(after: colon)...])
    }
}
