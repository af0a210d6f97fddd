import PortcullisPolicy

extension Grant {
    /// The grant of the rule `pattern` at `file`:`line`.
    public static func at(_ file: String, _ line: Int, _ pattern: String) -> Grant {
        Grant(location: SourceLocation(file: file, line: line), pattern: pattern)
    }
}
