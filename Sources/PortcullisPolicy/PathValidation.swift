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

    /// Why `root` is not acceptable as socket_root (absolute, normalised, no trailing `/`, and not
    /// "/" itself: the daemon sweeps socket_root at start and creates directories below it).
    public static func problem(inRoot root: String) -> String? {
        if root == "/" { return "is the root directory; name the directory the sockets live in, like /srv/tunnels" }
        return structuralProblem(root, lengthLimit: nil, wholeDoubleStars: false)
    }

    /// Whether the valid `path` lies strictly below the valid `root`.
    public static func path(_ path: String, isUnder root: String) -> Bool {
        root == "/" ? path != "/" : path.hasPrefix(root + "/")
    }

    /// One pass over the UTF-8 bytes (a config with thousands of path rules checks each of them);
    /// problems are reported in a fixed order of precedence.
    private static func structuralProblem(_ path: String, lengthLimit: Int?, wholeDoubleStars: Bool) -> String? {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: "."), star = UInt8(ascii: "*")
        let bytes = Array(path.utf8)
        if bytes.isEmpty { return "empty path" }
        if bytes.contains(0) { return "contains a NUL byte" }
        if bytes[0] != slash { return "not absolute" }
        if let lengthLimit, bytes.count > lengthLimit {
            return "longer than \(lengthLimit) bytes (\(bytes.count))"
        }
        if bytes.count == 1 { return "is the root directory" }
        if bytes[bytes.count - 1] == slash { return "ends with \"/\"" }
        var doubleSlash = false
        var componentProblem: String?
        var start = 1
        for end in 1...bytes.count where end == bytes.count || bytes[end] == slash {
            let component = bytes[start..<end]
            start = end + 1
            if component.isEmpty {
                doubleSlash = true
            } else if componentProblem == nil {
                if component.elementsEqual([dot]) {
                    componentProblem = "contains a \".\" component"
                } else if component.elementsEqual([dot, dot]) {
                    componentProblem = "contains a \"..\" component"
                } else if wholeDoubleStars, component.count > 2,
                          zip(component, component.dropFirst()).contains(where: { $0 == star && $1 == star }) {
                    componentProblem = "\"**\" must be a whole path component"
                }
            }
        }
        if doubleSlash { return "contains \"//\"" }
        return componentProblem
    }
}
