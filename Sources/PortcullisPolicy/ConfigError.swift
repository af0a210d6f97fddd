/// One thing wrong with the configuration, where it is.
public struct ConfigProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based; nil when the problem concerns the file as a whole (it cannot be read).
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`.
    public var description: String {
        line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
    }
}

/// Every problem found while loading, in file and line order of discovery; its description
/// lists them one per line, the first `describedLimit` of them (a refused reload's log line and
/// audit record stay bounded however broken the file is).
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    /// How many problems the description lists.
    public static let describedLimit = 100

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String {
        let listed = problems.prefix(Self.describedLimit).map(\.description)
        let more = problems.count - listed.count
        return (listed + (more > 0 ? ["(and \(more) more problems: policyctl validate --json lists them all)"] : []))
            .joined(separator: "\n")
    }
}
