/// A compiled `*`/`?` wildcard pattern, optionally with `%k`/`%u` placeholders whose values
/// are matched literally (a `*` in a user name matches only a `*`).
///
/// The pattern is compiled into one flat byte program, and matching works on UTF-8 bytes without
/// allocating: a decision tries many rules of one of thousands of keys, so what it touches must be
/// few and contiguous. `?` takes one whole character; case-insensitive patterns (host names) fold
/// ASCII letters only, as OpenSSH's host matching does.
public struct Glob: Sendable, Hashable {
    /// The program's instructions: a literal is followed by its length (1-255) and its bytes.
    enum Op {
        static let literal: UInt8 = 1
        static let any: UInt8 = 2
        static let one: UInt8 = 3
        static let keyName: UInt8 = 4
        static let userName: UInt8 = 5
    }

    let program: [UInt8]
    let caseInsensitive: Bool

    /// Compiles `pattern`; with `placeholders`, `%k`, `%u` and `%%` are recognised and any other
    /// `%` sequence is an error.
    public init(_ pattern: String, caseInsensitive: Bool = false, placeholders: Bool = false) throws(PatternError) {
        var program: [UInt8] = []
        var literal: [UInt8] = []
        func flush() {
            var rest = literal[...]
            while !rest.isEmpty {
                let run = rest.prefix(255)
                program += [Op.literal, UInt8(run.count)] + run
                rest = rest.dropFirst(run.count)
            }
            literal = []
        }
        let bytes = Array(pattern.utf8)
        // The program's length just after the last `*`: a `*` right after another compiles to
        // nothing (a literal's last byte may have the value of `Op.any`, so look at no byte).
        var afterStar = -1
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "*"):
                flush()
                if program.count != afterStar {
                    program.append(Op.any)
                    afterStar = program.count
                }
            case UInt8(ascii: "?"):
                flush(); program.append(Op.one)
            case UInt8(ascii: "%") where placeholders:
                guard index < bytes.count else { throw PatternError("trailing % (use %% for a literal %)") }
                switch bytes[index] {
                case UInt8(ascii: "k"): flush(); program.append(Op.keyName)
                case UInt8(ascii: "u"): flush(); program.append(Op.userName)
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
        self.program = program
        self.caseInsensitive = caseInsensitive
    }

    /// A glob from its compiled program (a path pattern's component).
    init(program: [UInt8], caseInsensitive: Bool = false) {
        self.program = program
        self.caseInsensitive = caseInsensitive
    }

    /// Whether `text` matches the whole pattern, with `%k` = `keyName` and `%u` = `userName`.
    public func matches(_ text: String, keyName: String = "", userName: String = "") -> Bool {
        var text = text, keyName = keyName, userName = userName
        return text.withUTF8 { subject in
            keyName.withUTF8 { key in
                userName.withUTF8 { user in
                    program.withUnsafeBufferPointer { program in
                        Self.matches(program[...], subject, key: key, user: user, caseInsensitive: caseInsensitive)
                    }
                }
            }
        }
    }

    /// Whether `%k` or `%u` appear.
    var hasPlaceholders: Bool {
        var t = 0
        while t < program.count {
            switch program[t] {
            case Op.literal: t += 2 + Int(program[t + 1])
            case Op.keyName, Op.userName: return true
            default: t += 1
            }
        }
        return false
    }

    /// Runs `program` (a compiled glob, possibly a slice of a longer program) on `subject`.
    static func matches(_ program: Slice<UnsafeBufferPointer<UInt8>>, _ subject: UnsafeBufferPointer<UInt8>,
                        key: UnsafeBufferPointer<UInt8>, user: UnsafeBufferPointer<UInt8>,
                        caseInsensitive: Bool) -> Bool {
        // Classic single-backtrack wildcard matching: every instruction but `*` consumes a fixed
        // length, so retrying from the last `*` with one more character swallowed is complete.
        let end = program.endIndex
        var t = program.startIndex, s = 0
        var starOp = -1, starSubject = 0
        func prefix(_ run: Slice<UnsafeBufferPointer<UInt8>>, folding: Bool) -> Int? {
            guard subject.count - s >= run.count else { return nil }
            var index = s
            for byte in run {
                let candidate = folding ? folded(subject[index]) : subject[index]
                guard candidate == byte else { return nil }
                index += 1
            }
            return index
        }
        while s < subject.count || t < end {
            if t < end {
                switch program[t] {
                case Op.any:
                    starOp = t; starSubject = s; t += 1
                    continue
                case Op.one:
                    if s < subject.count { t += 1; s += characterLength(subject[s]); continue }
                case Op.literal:
                    let count = Int(program[t + 1])
                    if let next = prefix(program[(t + 2)..<(t + 2 + count)], folding: caseInsensitive) {
                        t += 2 + count; s = next; continue
                    }
                default:
                    let value = program[t] == Op.keyName ? key : user
                    // A placeholder's value is matched as it is (no folding of the value's case).
                    if let next = prefix(value[...], folding: false) { t += 1; s = next; continue }
                }
            }
            guard starOp >= 0, starSubject < subject.count else { return false }
            starSubject += characterLength(subject[starSubject])
            t = starOp + 1
            s = starSubject
        }
        return s == subject.count
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

    static func folded(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
