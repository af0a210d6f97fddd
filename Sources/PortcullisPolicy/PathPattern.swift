/// A compiled socket-path pattern: absolute, matched component by component. `*` and `?` never
/// match `/`; a `**` component matches zero or more whole components; `%k`, `%u` and `%%` stand
/// for the key name, the user name and `%`, whose values are matched literally.
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    /// How a component starts in `program`: `**`, or a glob whose program (its length in the
    /// next two bytes) follows.
    enum Op {
        static let anyComponents: UInt8 = 0
        static let glob: UInt8 = 1
    }

    /// The pattern as written.
    public let text: String
    /// Every component, compiled, one after the other in one buffer.
    let program: [UInt8]

    /// Compiles `text`, rejecting what `PathValidation.problem(inPattern:)` rejects and bad `%` escapes.
    public init(_ text: String) throws(PatternError) {
        if let problem = PathValidation.problem(inPattern: text) { throw PatternError(problem) }
        var program: [UInt8] = []
        var lastWasAny = false
        // Components lie between `/` bytes (a `/` followed by a combining mark is one Character).
        for part in text.utf8.split(separator: UInt8(ascii: "/")) {
            if part.elementsEqual("**".utf8) {
                if !lastWasAny { program.append(Op.anyComponents) }
                lastWasAny = true
            } else {
                let glob = try Glob(String(decoding: part, as: UTF8.self), placeholders: true).program
                guard glob.count <= Int(UInt16.max) else { throw PatternError("component too long") }
                program += [Op.glob, UInt8(glob.count >> 8), UInt8(glob.count & 0xff)] + glob
                lastWasAny = false
            }
        }
        self.text = text
        self.program = program
    }

    public var description: String { text }

    /// Whether the (already validated) absolute `path` matches, for key `keyName` and user `userName`.
    public func matches(_ path: String, keyName: String, userName: String) -> Bool {
        var path = path, keyName = keyName, userName = userName
        return path.withUTF8 { bytes in
            keyName.withUTF8 { key in
                userName.withUTF8 { user in
                    program.withUnsafeBufferPointer { program in matches(program, bytes, key: key, user: user) }
                }
            }
        }
    }

    /// ``matches(_:keyName:userName:)`` on UTF-8 bytes, without allocating on the heap.
    private func matches(_ program: UnsafeBufferPointer<UInt8>, _ path: UnsafeBufferPointer<UInt8>,
                         key: UnsafeBufferPointer<UInt8>, user: UnsafeBufferPointer<UInt8>) -> Bool {
        // Where each component starts and ends: at most one per two bytes of an absolute path.
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: path.count / 2 + 1) { parts in
            var count = 0, start = 0
            for index in 0...path.count where index == path.count || path[index] == UInt8(ascii: "/") {
                if index > start {
                    parts[count] = start..<index
                    count += 1
                }
                start = index + 1
            }
            // Single-backtrack matching over components: `**` is the star, every other component
            // consumes exactly one path component. `p` is an offset into the program.
            var p = 0, s = 0
            var starPattern = -1, starSubject = 0
            while s < count || p < program.count {
                if p < program.count {
                    if program[p] == Op.anyComponents {
                        starPattern = p; starSubject = s; p += 1
                        continue
                    }
                    let length = Int(program[p + 1]) << 8 | Int(program[p + 2])
                    let glob = program[(p + 3)..<(p + 3 + length)]
                    if s < count, Glob.matches(glob, UnsafeBufferPointer(rebasing: path[parts[s]]),
                                               key: key, user: user, caseInsensitive: false) {
                        p += 3 + length; s += 1
                        continue
                    }
                }
                guard starPattern >= 0, starSubject < count else { return false }
                starSubject += 1
                p = starPattern + 1
                s = starSubject
            }
            return true
        }
    }

    /// Whether some path strictly below `root` could match (for load-time checks). Conservative:
    /// answers true when wildcards make it possible.
    func canMatch(under root: String) -> Bool {
        var p = 0
        for rootPart in root.utf8.split(separator: UInt8(ascii: "/")) {
            guard p < program.count else { return false }
            if program[p] == Op.anyComponents { return true }
            let length = Int(program[p + 1]) << 8 | Int(program[p + 2])
            let glob = Glob(program: Array(program[(p + 3)..<(p + 3 + length)]))
            p += 3 + length
            if glob.hasPlaceholders { continue }
            if !glob.matches(String(decoding: rootPart, as: UTF8.self)) { return false }
        }
        return p < program.count
    }
}
