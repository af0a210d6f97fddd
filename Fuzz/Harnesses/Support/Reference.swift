/// Slow, obviously correct matchers the harnesses compare the policy's fast ones against:
/// memoised recursion over Unicode scalars, written from the documented semantics, not the code.
public enum Reference {
    /// A glob's pieces: a literal scalar, `*`, `?`, or a placeholder (`%k` / `%u`).
    public enum Piece: Equatable { case literal(Unicode.Scalar), any, one, key, user }

    /// Compiles a glob as documented: `*`, `?`, and with `placeholders` `%k` `%u` `%%`
    /// (any other `%` sequence, or a trailing `%`, is an error: nil).
    public static func pieces(_ pattern: String, placeholders: Bool) -> [Piece]? {
        var out: [Piece] = []
        var scalars = pattern.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            switch c {
            case "*": out.append(.any)
            case "?": out.append(.one)
            case "%" where placeholders:
                switch scalars.next() {
                case "k": out.append(.key)
                case "u": out.append(.user)
                case "%": out.append(.literal("%"))
                default: return nil
                }
            default: out.append(.literal(c))
            }
        }
        return out
    }

    static func fold(_ c: Unicode.Scalar) -> Unicode.Scalar {
        ("A"..."Z").contains(c) ? Unicode.Scalar(c.value + 32)! : c
    }

    /// Whether `subject` matches the whole glob; ASCII letters of literals fold when
    /// `caseInsensitive`; placeholder values are matched exactly.
    public static func globMatches(_ pieces: [Piece], _ subject: String, key: String, user: String,
                                   caseInsensitive: Bool) -> Bool {
        // Expand placeholders into literal pieces first (their values never fold, never wildcard).
        enum Atom: Equatable { case lit(Unicode.Scalar, exact: Bool), any, one }
        var atoms: [Atom] = []
        for piece in pieces {
            switch piece {
            case .literal(let c): atoms.append(.lit(c, exact: false))
            case .any: atoms.append(.any)
            case .one: atoms.append(.one)
            case .key: atoms += key.unicodeScalars.map { .lit($0, exact: true) }
            case .user: atoms += user.unicodeScalars.map { .lit($0, exact: true) }
            }
        }
        let s = Array(subject.unicodeScalars)
        var memo = [Int: Bool]()
        func match(_ a: Int, _ i: Int) -> Bool {
            let slot = a * (s.count + 1) + i
            if let known = memo[slot] { return known }
            var result: Bool
            if a == atoms.count {
                result = i == s.count
            } else {
                switch atoms[a] {
                case .any: result = match(a + 1, i) || (i < s.count && match(a, i + 1))
                case .one: result = i < s.count && match(a + 1, i + 1)
                case .lit(let c, let exact):
                    let equal = i < s.count && (exact || !caseInsensitive ? s[i] == c : fold(s[i]) == fold(c))
                    result = equal && match(a + 1, i + 1)
                }
            }
            memo[slot] = result
            return result
        }
        return match(0, 0)
    }

    /// Whether a pattern component holds `**` without being it (refused: `**` is whole or absent).
    public static func hasPartialDoubleStar(_ pattern: String) -> Bool {
        pattern.utf8.split(separator: UInt8(ascii: "/")).contains { part in
            part.count > 2 && zip(part, part.dropFirst()).contains { $0 == 0x2A && $1 == 0x2A }
        }
    }

    /// A path pattern's components: nil for `**`, else the component's glob pieces; nil overall if
    /// a component is not a valid glob with placeholders.
    public static func pathPattern(_ pattern: String) -> [[Piece]?]? {
        var out: [[Piece]?] = []
        for part in components(pattern) {
            if part.utf8.elementsEqual("**".utf8) { out.append(nil); continue }
            guard let glob = pieces(part, placeholders: true) else { return nil }
            out.append(glob)
        }
        return out
    }

    /// Whether `path` (split on `/`, empty components dropped) matches the components, `**`
    /// standing for zero or more whole components.
    public static func pathMatches(_ components: [[Piece]?], _ path: String, key: String, user: String) -> Bool {
        let parts = Reference.components(path)
        var memo = [Int: Bool]()
        func match(_ c: Int, _ p: Int) -> Bool {
            let slot = c * (parts.count + 1) + p
            if let known = memo[slot] { return known }
            var result: Bool
            if c == components.count {
                result = p == parts.count
            } else if let glob = components[c] {
                result = p < parts.count && globMatches(glob, parts[p], key: key, user: user, caseInsensitive: false)
                    && match(c + 1, p + 1)
            } else {
                result = match(c + 1, p) || (p < parts.count && match(c, p + 1))
            }
            memo[slot] = result
            return result
        }
        return match(0, 0)
    }

    /// The non-empty components between `/` bytes.
    public static func components(_ path: String) -> [String] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The documented path rules (README "Configuration"): absolute, no `.`/`..` components, no
    /// `//`, no trailing `/`, not `/` itself, no NUL, at most `limit` bytes; nil means acceptable.
    public static func pathIsValid(_ path: String, limit: Int?) -> Bool {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0), bytes.first == UInt8(ascii: "/") else { return false }
        if let limit, bytes.count > limit { return false }
        guard bytes.count > 1, bytes.last != UInt8(ascii: "/") else { return false }
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        return !parts.contains { $0.isEmpty || $0.elementsEqual([0x2E]) || $0.elementsEqual([0x2E, 0x2E]) }
    }
}
