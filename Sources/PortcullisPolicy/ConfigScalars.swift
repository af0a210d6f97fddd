/// Parsers for the config's scalar value forms.
enum ConfigScalars {
    /// `30s`, `2m`, `1h` or a bare number of seconds; positive.
    static func duration(_ text: String) -> Int? {
        guard let last = text.last else { return nil }
        let multiplier: Int
        var digits = Substring(text)
        switch last {
        case "s": multiplier = 1; digits = digits.dropLast()
        case "m": multiplier = 60; digits = digits.dropLast()
        case "h": multiplier = 3600; digits = digits.dropLast()
        default: multiplier = 1
        }
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(digits), value > 0 else { return nil }
        return value * multiplier
    }

    /// An octal permission mode of 3 or 4 digits, at most 0777.
    static func mode(_ text: String) -> UInt32? {
        guard (3...4).contains(text.count), text.allSatisfy({ ("0"..."7").contains($0) }),
              let value = UInt32(text, radix: 8), value <= 0o777 else { return nil }
        return value
    }

    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// A positive decimal integer.
    static func positiveInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 6, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(text), value > 0 else { return nil }
        return value
    }

    /// The closest of `candidates` to a misspelt `name`, if close enough to suggest.
    static func suggestion(for name: String, among candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var current = [i + 1]
                for (j, y) in b.enumerated() {
                    current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
                }
                previous = current
            }
            return previous[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(name.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 4) else { return nil }
        return best.0
    }
}
