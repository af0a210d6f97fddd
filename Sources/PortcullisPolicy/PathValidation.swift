/// The structural rules every Unix-socket path obeys, for requests and for rule patterns alike.
/// A path that breaks them is refused, never normalised into something else.
public enum PathValidation {
    /// Longest usable socket path on Linux: `sun_path` is 108 bytes including the NUL.
    public static let maximumLength = 107

    /// Why the requested socket `path` is malformed, or nil if it is acceptable.
    public static func problem(in path: String) -> String? {
        structuralProblem(path, lengthLimit: maximumLength, wholeDoubleStars: false)
    }

    /// Why the rule pattern `pattern` is malformed (same rules as requests, no length limit,
    /// and `**` only as a whole component), or nil.
    public static func problem(inPattern pattern: String) -> String? {
        structuralProblem(pattern, lengthLimit: nil, wholeDoubleStars: true)
    }

    /// Why `root` is not acceptable as socket_root (absolute, normalised, no trailing `/` but "/").
    public static func problem(inRoot root: String) -> String? {
        root == "/" ? nil : structuralProblem(root, lengthLimit: nil, wholeDoubleStars: false)
    }

    /// Whether the valid `path` lies strictly below the valid `root`.
    public static func path(_ path: String, isUnder root: String) -> Bool {
        root == "/" ? path != "/" : path.hasPrefix(root + "/")
    }

    private static func structuralProblem(_ path: String, lengthLimit: Int?, wholeDoubleStars: Bool) -> String? {
        if path.isEmpty { return "empty path" }
        if path.utf8.contains(0) { return "contains a NUL byte" }
        if !path.hasPrefix("/") { return "not absolute" }
        if let lengthLimit, path.utf8.count > lengthLimit {
            return "longer than \(lengthLimit) bytes (\(path.utf8.count))"
        }
        if path == "/" { return "is the root directory" }
        if path.hasSuffix("/") { return "ends with \"/\"" }
        if path.contains("//") { return "contains \"//\"" }
        for component in path.split(separator: "/") {
            if component == "." { return "contains a \".\" component" }
            if component == ".." { return "contains a \"..\" component" }
            if wholeDoubleStars, component.contains("**"), component != "**" {
                return "\"**\" must be a whole path component"
            }
        }
        return nil
    }
}
