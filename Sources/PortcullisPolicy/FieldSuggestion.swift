/// "Did you mean ...?" for misspelt config field names.
enum FieldSuggestion {
    /// The closest of `candidates` to a misspelt `name`, if close enough to suggest.
    static func closest(to name: String, among candidates: [String]) -> String? {
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
        let lowered = name.lowercased()
        if lowered.count >= 4, let extended = candidates.first(where: { $0.hasPrefix(lowered) || lowered.hasPrefix($0) }) {
            return extended
        }
        let scored = candidates.map { ($0, distance(Array(name.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 4) else { return nil }
        return best.0
    }
}
