/// One `permit_streamlocal_listen` or `permit_streamlocal_open` entry: a socket-path pattern.
public struct PathRule: Sendable, Hashable, CustomStringConvertible {
    /// The compiled pattern; `pattern.text` is the entry as written.
    public let pattern: PathPattern
    /// Where it was written.
    public let location: SourceLocation

    public init(_ text: String, location: SourceLocation) throws(PatternError) {
        pattern = try PathPattern(text)
        self.location = location
    }

    /// What a decision this rule grants carries.
    public var grant: Grant { Grant(location: location, pattern: pattern.text) }

    /// `FILE:LINE PATTERN`.
    public var description: String { grant.description }
}
