/// The written forms of the per-key limits, shared by key entries, `limits:` and `show-key`.
/// A count is a whole number or `unlimited`; `idle_timeout` is a duration (30s, 5m, 1h, or a
/// number of seconds) or `off`. The words give nil: no limit.
extension KeyLimits {
    /// A count of at least `minimum`, or nil for `unlimited`; throws the reason otherwise.
    static func count(_ text: String, minimum: Int) throws(PatternError) -> Int? {
        if text == "unlimited" { return nil }
        guard let value = ConfigScalars.wholeNumber(text), value >= minimum else {
            throw PatternError(minimum == 0 ? "expected a whole number (0: none at all) or unlimited"
                                            : "expected a whole number of at least \(minimum), or unlimited")
        }
        return value
    }

    /// Seconds, or nil for `off`; throws the reason otherwise.
    static func idle(_ text: String) throws(PatternError) -> Int? {
        if text == "off" { return nil }
        guard let seconds = ConfigScalars.duration(text) else { throw PatternError("expected a duration like 30s, 5m or 1h, or off") }
        return seconds
    }

    /// `12`, or `unlimited` for nil and `unlimited`.
    static func countText(_ value: Int?) -> String {
        guard let value, value != unlimited else { return "unlimited" }
        return String(value)
    }

    /// `90s`, `5m`, `2h` (the largest unit that is exact), or `off` for nil and `unlimited`.
    static func durationText(_ seconds: Int?) -> String {
        guard let seconds, seconds != unlimited else { return "off" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
