/// A compiled socket-path pattern: absolute, matched component by component. `*` and `?` never
/// match `/`; a `**` component matches zero or more whole components; `%k`, `%u` and `%%` stand
/// for the key name, the user name and `%`, whose values are matched literally.
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case glob(Glob)
        case anyComponents
    }

    /// The pattern as written.
    public let text: String
    let components: [Component]

    /// Compiles `text`, rejecting what `PathValidation.problem(inPattern:)` rejects and bad `%` escapes.
    public init(_ text: String) throws(PatternError) {
        if let problem = PathValidation.problem(inPattern: text) { throw PatternError(problem) }
        var components: [Component] = []
        for part in text.split(separator: "/") {
            if part == "**" {
                if components.last != .anyComponents { components.append(.anyComponents) }
            } else {
                components.append(.glob(try Glob(String(part), placeholders: true)))
            }
        }
        self.text = text
        self.components = components
    }

    public var description: String { text }

    /// Whether the (already validated) absolute `path` matches, for key `keyName` and user `userName`.
    public func matches(_ path: String, keyName: String, userName: String) -> Bool {
        var path = path, keyName = keyName, userName = userName
        return path.withUTF8 { bytes in
            keyName.withUTF8 { key in
                userName.withUTF8 { user in matches(bytes, key: key, user: user) }
            }
        }
    }

    /// ``matches(_:keyName:userName:)`` on UTF-8 bytes, without allocating on the heap.
    private func matches(_ path: UnsafeBufferPointer<UInt8>, key: UnsafeBufferPointer<UInt8>,
                         user: UnsafeBufferPointer<UInt8>) -> Bool {
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
            func part(_ index: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: path[parts[index]])
            }
            // Single-backtrack matching over components: `**` is the star, every other component
            // consumes exactly one path component.
            var p = 0, s = 0
            var starPattern = -1, starSubject = 0
            while s < count || p < components.count {
                if p < components.count {
                    switch components[p] {
                    case .anyComponents:
                        starPattern = p; starSubject = s; p += 1
                        continue
                    case .glob(let glob):
                        if s < count, glob.matches(part(s), key: key, user: user) {
                            p += 1; s += 1
                            continue
                        }
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
        let rootParts = root.split(separator: "/").map(String.init)
        for (index, rootPart) in rootParts.enumerated() {
            guard index < components.count else { return false }
            switch components[index] {
            case .anyComponents: return true
            case .glob(let glob):
                if glob.tokens.contains(.keyName) || glob.tokens.contains(.userName) { continue }
                if !glob.matches(rootPart) { return false }
            }
        }
        return components.count > rootParts.count
    }
}
