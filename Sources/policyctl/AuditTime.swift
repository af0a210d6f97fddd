import Foundation
import PortcullisPolicy

/// The times `--since` and `--until` take.
enum AuditTime {
    /// An RFC 3339 date-time (`2026-11-25T10:00:00Z`), a date (`2026-11-25`, midnight UTC), or a
    /// duration that long before `now` (`90s`, `15m`, `2h`, `3d`, `2w`).
    static func parse(_ text: String, option: String, now: Date) throws(Failure) -> Date {
        if let date = RFC3339.date(from: text) { return date }
        if text.count == 10, let date = RFC3339.date(from: text + "T00:00:00Z") { return date }
        if let seconds = Expiry.duration(text) { return now.addingTimeInterval(-Double(seconds)) }
        throw Failure.usage("\(option) \"\(text)\": expected an RFC 3339 time (2026-11-25T10:00:00Z), a date (2026-11-25) "
            + "or how long ago (90s, 15m, 2h, 3d)")
    }
}
