/// The rule that granted a request: where it is written and its pattern as written. What a granted
/// ``Decision`` carries to the audit record (`rule`, `pattern`) and to `policyctl check`.
public struct Grant: Sendable, Hashable, CustomStringConvertible {
    /// The rule's file and line.
    public let location: SourceLocation
    /// The rule's pattern as written in the config.
    public let pattern: String

    public init(location: SourceLocation, pattern: String) {
        self.location = location
        self.pattern = pattern
    }

    /// `FILE:LINE PATTERN`, as logs and `policyctl check` print it.
    public var description: String { "\(location) \(pattern)" }
}
