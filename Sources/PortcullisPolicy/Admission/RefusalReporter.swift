/// Keeps the records of refused connections bounded under a flood. Per kind of refusal, one is
/// recorded at most every `interval` seconds, carrying how many like it were refused since the
/// last record of that kind without a record of their own; a penalised source's first refusal
/// of each penalty period is always recorded. Refusals still uncounted when an interval ends
/// are reported by `due` (the caller writes a summary record), so every refusal is counted in
/// some record within one interval.
public struct RefusalReporter: Sendable {
    public let interval: Double
    private var kinds: [String: (last: Double, held: Int)] = [:]

    public init(interval: Double = 10) {
        self.interval = interval
    }

    /// A connection was refused at `now` for a reason of `kind`. Returns how many earlier
    /// refusals of that kind the record to write now stands for too, or nil: write no record
    /// (it is counted for a later one). `always`: record it regardless of the interval.
    public mutating func refused(kind: String, always: Bool = false, at now: Double) -> Int? {
        guard let state = kinds[kind] else {
            kinds[kind] = (now, 0)
            return 0
        }
        if always || now - state.last >= interval {
            kinds[kind] = (now, 0)
            return state.held
        }
        kinds[kind] = (state.last, state.held + 1)
        return nil
    }

    /// The kinds whose interval ended at `now` with refusals not yet in any record, and how many:
    /// each becomes a summary record.
    public mutating func due(at now: Double) -> [(kind: String, count: Int)] {
        var summaries: [(kind: String, count: Int)] = []
        for (kind, state) in kinds where state.held > 0 && now - state.last >= interval {
            summaries.append((kind, state.held))
            kinds[kind] = (now, 0)
        }
        return summaries.sorted { $0.kind < $1.kind }
    }

    /// When the next summary is due, if any refusal waits for one.
    public var nextDue: Double? {
        kinds.values.filter { $0.held > 0 }.map { $0.last + interval }.min()
    }
}
