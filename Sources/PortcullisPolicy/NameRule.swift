/// One `permit_name_publish` or `permit_name_open` entry: a `*`/`?` glob over names (see
/// ``ServiceName``), with `%k` standing for the key's name. Only what a name may hold is accepted
/// (`a-z`, `0-9`, `-`, plus `*`, `?` and `%k`), so a rule that could never match is refused.
public struct NameRule: Sendable, Hashable, CustomStringConvertible {
    /// The entry as written.
    public let text: String
    /// Where it was written.
    public let location: SourceLocation
    let glob: Glob

    public init(_ text: String, location: SourceLocation) throws(PatternError) {
        guard !text.isEmpty else { throw PatternError("expected a name pattern (a-z, 0-9, -, * and ?, %k for the key's name)") }
        var rest = Substring(text)
        while let byte = rest.utf8.first {
            if rest.hasPrefix("%k") {
                rest = rest.dropFirst(2)
                continue
            }
            if byte == UInt8(ascii: "%") { throw PatternError("only %k (the key's name) may follow %") }
            if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) {
                throw PatternError("upper-case letters (names are lower case, so this would never match: write \"\(text.lowercased())\")")
            }
            guard ServiceName.isNameByte(byte) || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") else {
                throw PatternError("expected a name pattern (a-z, 0-9, -, * and ?, %k for the key's name)")
            }
            rest = rest.dropFirst()
        }
        self.text = text
        self.location = location
        self.glob = try Glob(text, placeholders: true)
    }

    /// What a decision this rule grants carries.
    public var grant: Grant { Grant(location: location, pattern: text) }

    /// `FILE:LINE PATTERN`.
    public var description: String { grant.description }

    /// Whether the rule matches `name` for the key called `keyName`.
    func matches(_ name: String, keyName: String) -> Bool {
        glob.matches(name, keyName: keyName)
    }
}
