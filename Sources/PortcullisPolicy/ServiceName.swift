/// A name a sharer publishes (`ssh -R alex-ssh:22:127.0.0.1:22 proxy`) and a consumer reaches
/// (`ssh -J proxy alex-ssh`): one DNS label, so it can never be mistaken for an address.
///
/// Which `tcpip-forward`/`direct-tcpip` hosts are names: any host without a `.` or `:` other than
/// the empty host, `*` and `localhost` (in any case), which keep their listen meanings. Such a host
/// that breaks the name syntax is refused as a name, with the reason, never treated as a bind
/// address or normalised.
public enum ServiceName {
    /// The longest name, in bytes: one DNS label.
    public static let maxLength = 63

    /// Whether `host`, as a client sent it in a `tcpip-forward` or `direct-tcpip`, is meant as a
    /// name rather than an address: no `.` and no `:`, and not `""`, `*` or `localhost`.
    public static func isNameRequest(_ host: String) -> Bool {
        guard !host.isEmpty, host != "*", host.lowercased() != "localhost" else { return false }
        return !host.utf8.contains(UInt8(ascii: ".")) && !host.utf8.contains(UInt8(ascii: ":"))
    }

    /// What is wrong with `name` as a name, or nil for a valid one: 1 to 63 of `a-z`, `0-9` and
    /// `-`, not starting or ending with `-`, with at least one letter (all digits would read as an
    /// address), and not `localhost`.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "a name is not empty" }
        if bytes.count > maxLength { return "a name is at most \(maxLength) bytes long (one DNS label); this one is \(bytes.count)" }
        if let bad = bytes.first(where: { !isNameByte($0) }) {
            if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bad) {
                return "upper-case letters in name \"\(name)\" (names are lower case: write \"\(name.lowercased())\")"
            }
            return "a name has only a-z, 0-9 and \"-\" (one DNS label)"
        }
        if bytes.first == UInt8(ascii: "-") || bytes.last == UInt8(ascii: "-") { return "a name does not start or end with \"-\"" }
        if !bytes.contains(where: { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }) {
            return "a name has at least one letter (all digits would read as an address)"
        }
        if name == "localhost" { return "localhost is never a name" }
        return nil
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-")
    }
}
