import Foundation

/// The expiry forms administrators type: an RFC 3339 date-time, a date, or a duration from now.
public enum Expiry {
    /// `2027-01-31T00:00:00Z` (any RFC 3339 date-time), `2027-01-31` (the start of that day, UTC),
    /// or a positive duration from `now`: a number followed by `s`, `m`, `h`, `d` or `w` (`30d`).
    public static func parse(_ text: String, now: Date) throws(PatternError) -> Date {
        if let date = RFC3339.date(from: text) { return date }
        if text.count == 10, let date = RFC3339.date(from: text + "T00:00:00Z") { return date }
        if let seconds = duration(text) { return Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(seconds)).rounded(.down)) }
        throw PatternError("expected an RFC 3339 date-time (2027-01-31T00:00:00Z), a date (2027-01-31) or a duration (30d, 12h, 2w)")
    }

    /// OpenSSH's `expiry-time` form, `YYYYMMDD[HHMM[SS]][Z]`: UTC with `Z`, otherwise in `timeZone`
    /// (OpenSSH reads it in the system's local time).
    public static func openSSH(_ text: String, timeZone: TimeZone = .current) -> Date? {
        var digits = Substring(text)
        let utc = digits.hasSuffix("Z") || digits.hasSuffix("z")
        if utc { digits = digits.dropLast() }
        guard [8, 12, 14].contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let d = Array(digits)
        func part(_ start: Int, _ length: Int) -> String { start < d.count ? String(d[start..<start + length]) : "00" }
        let stamp = "\(part(0, 4))-\(part(4, 2))-\(part(6, 2))T\(part(8, 2)):\(part(10, 2)):\(part(12, 2))Z"
        guard let naive = RFC3339.date(from: stamp) else { return nil }
        if utc { return naive }
        return naive.addingTimeInterval(-Double(timeZone.secondsFromGMT(for: naive)))
    }

    /// The RFC 3339 UTC text the config files carry, whole seconds: `2027-01-31T00:00:00Z`.
    public static func text(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).ISO8601Format()
    }

    /// Seconds in a positive duration `30s`, `15m`, `2h`, `3d`, `2w` (up to six digits), or nil.
    public static func duration(_ text: String) -> Int? {
        guard let unit = text.last else { return nil }
        let multipliers: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let multiplier = multipliers[unit] else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(digits), value > 0 else { return nil }
        return value * multiplier
    }
}
