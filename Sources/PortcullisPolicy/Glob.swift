/// A compiled `*`/`?` wildcard pattern, optionally with `%k`/`%u` placeholders whose values
/// are matched literally (a `*` in a user name matches only a `*`).
public struct Glob: Sendable, Hashable {
    enum Token: Sendable, Hashable {
        case literal([Unicode.Scalar])
        /// `*`: any run of scalars (never `/`, since paths are matched component by component).
        case any
        /// `?`: exactly one scalar.
        case one
        /// `%k`: the key's name.
        case keyName
        /// `%u`: the user name.
        case userName
    }

    let tokens: [Token]
    let caseInsensitive: Bool

    /// Compiles `pattern`; with `placeholders`, `%k`, `%u` and `%%` are recognised and any other
    /// `%` sequence is an error.
    public init(_ pattern: String, caseInsensitive: Bool = false, placeholders: Bool = false) throws(PatternError) {
        let source = caseInsensitive ? pattern.lowercased() : pattern
        var tokens: [Token] = []
        var literal: [Unicode.Scalar] = []
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = [] }
        }
        var scalars = source.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar {
            case "*":
                flush()
                if tokens.last != .any { tokens.append(.any) }
            case "?":
                flush(); tokens.append(.one)
            case "%" where placeholders:
                switch scalars.next() {
                case "k": flush(); tokens.append(.keyName)
                case "u": flush(); tokens.append(.userName)
                case "%": literal.append("%")
                case let other?: throw PatternError("unknown substitution %\(other) (use %k, %u or %%)")
                case nil: throw PatternError("trailing % (use %% for a literal %)")
                }
            default:
                literal.append(scalar)
            }
        }
        flush()
        self.tokens = tokens
        self.caseInsensitive = caseInsensitive
    }

    /// Whether `text` matches the whole pattern, with `%k` = `keyName` and `%u` = `userName`.
    public func matches(_ text: String, keyName: String = "", userName: String = "") -> Bool {
        let subject = Array((caseInsensitive ? text.lowercased() : text).unicodeScalars)
        let key = Array((caseInsensitive ? keyName.lowercased() : keyName).unicodeScalars)
        let user = Array((caseInsensitive ? userName.lowercased() : userName).unicodeScalars)
        func literal(_ token: Token) -> [Unicode.Scalar]? {
            switch token {
            case .literal(let scalars): scalars
            case .keyName: key
            case .userName: user
            case .any, .one: nil
            }
        }
        // Classic single-backtrack wildcard matching: every token but `*` consumes a fixed
        // length, so retrying from the last `*` with one more scalar swallowed is complete.
        var t = 0, s = 0
        var starToken = -1, starSubject = 0
        while s < subject.count || t < tokens.count {
            if t < tokens.count {
                switch tokens[t] {
                case .any:
                    starToken = t; starSubject = s; t += 1
                    continue
                case .one:
                    if s < subject.count { t += 1; s += 1; continue }
                default:
                    let run = literal(tokens[t])!
                    if subject.count - s >= run.count, subject[s..<s + run.count].elementsEqual(run) {
                        t += 1; s += run.count
                        continue
                    }
                }
            }
            guard starToken >= 0, starSubject < subject.count else { return false }
            starSubject += 1
            t = starToken + 1
            s = starSubject
        }
        return true
    }
}
