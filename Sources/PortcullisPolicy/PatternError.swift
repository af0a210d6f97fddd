/// Why a rule, pattern or key line was rejected; the loader adds the file and line.
public struct PatternError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
