/// A compiled `*`/`?` wildcard pattern, optionally with `%k`/`%u` placeholders whose values
/// are matched literally (a `*` in a user name matches only a `*`).
///
/// Matching works on UTF-8 bytes without allocating (a decision tries many rules): `?` takes one
/// whole character, and case-insensitive patterns (host names) fold ASCII letters only, as
/// OpenSSH's host matching does.
public struct Glob: Sendable, Hashable {
    enum Token: Sendable, Hashable {
        /// UTF-8 bytes, lowercased if the glob is case-insensitive.
        case literal([UInt8])
        /// `*`: any run of characters (never `/`, since paths are matched component by component).
        case any
        /// `?`: exactly one character.
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
        var tokens: [Token] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = [] }
        }
        let bytes = Array(pattern.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "*"):
                flush()
                if tokens.last != .any { tokens.append(.any) }
            case UInt8(ascii: "?"):
                flush(); tokens.append(.one)
            case UInt8(ascii: "%") where placeholders:
                guard index < bytes.count else { throw PatternError("trailing % (use %% for a literal %)") }
                switch bytes[index] {
                case UInt8(ascii: "k"): flush(); tokens.append(.keyName)
                case UInt8(ascii: "u"): flush(); tokens.append(.userName)
                case UInt8(ascii: "%"): literal.append(UInt8(ascii: "%"))
                default:
                    let other = String(decoding: bytes[index...], as: UTF8.self).prefix(1)
                    throw PatternError("unknown substitution %\(other) (use %k, %u or %%)")
                }
                index += 1
            default:
                literal.append(caseInsensitive ? Self.folded(byte) : byte)
            }
        }
        flush()
        self.tokens = tokens
        self.caseInsensitive = caseInsensitive
    }

    /// Whether `text` matches the whole pattern, with `%k` = `keyName` and `%u` = `userName`.
    public func matches(_ text: String, keyName: String = "", userName: String = "") -> Bool {
        var text = text, keyName = keyName, userName = userName
        return text.withUTF8 { subject in
            keyName.withUTF8 { key in
                userName.withUTF8 { user in matches(subject, key: key, user: user) }
            }
        }
    }

    /// ``matches(_:keyName:userName:)`` on UTF-8 bytes.
    func matches(_ subject: UnsafeBufferPointer<UInt8>, key: UnsafeBufferPointer<UInt8>,
                 user: UnsafeBufferPointer<UInt8>) -> Bool {
        // Classic single-backtrack wildcard matching: every token but `*` consumes a fixed
        // length, so retrying from the last `*` with one more character swallowed is complete.
        var t = 0, s = 0
        var starToken = -1, starSubject = 0
        while s < subject.count || t < tokens.count {
            if t < tokens.count {
                switch tokens[t] {
                case .any:
                    starToken = t; starSubject = s; t += 1
                    continue
                case .one:
                    if s < subject.count { t += 1; s += Self.characterLength(subject[s]); continue }
                case .literal(let run):
                    if let end = prefix(run, of: subject, at: s) { t += 1; s = end; continue }
                case .keyName:
                    if let end = prefix(key, of: subject, at: s) { t += 1; s = end; continue }
                case .userName:
                    if let end = prefix(user, of: subject, at: s) { t += 1; s = end; continue }
                }
            }
            guard starToken >= 0, starSubject < subject.count else { return false }
            starSubject += Self.characterLength(subject[starSubject])
            t = starToken + 1
            s = starSubject
        }
        return s == subject.count
    }

    /// Where `run` ends if `subject` holds it at `start`, or nil.
    private func prefix(_ run: some Collection<UInt8>, of subject: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        guard subject.count - start >= run.count else { return nil }
        var index = start
        for byte in run {
            let candidate = caseInsensitive ? Self.folded(subject[index]) : subject[index]
            guard candidate == (caseInsensitive ? Self.folded(byte) : byte) else { return nil }
            index += 1
        }
        return index
    }

    /// The byte length of the UTF-8 character that starts with `lead`.
    private static func characterLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }

    private static func folded(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
