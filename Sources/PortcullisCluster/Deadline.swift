import Foundation

/// A point in time (monotonic clock) by which an operation must be done.
struct Deadline: Sendable {
    let nanoseconds: UInt64

    init(after seconds: Double) {
        nanoseconds = Deadline.now() + UInt64(max(0, seconds) * 1_000_000_000)
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Milliseconds left, for poll(2); 0 once passed.
    var millisecondsLeft: Int32 {
        let now = Deadline.now()
        guard nanoseconds > now else { return 0 }
        return Int32(min(UInt64(Int32.max), (nanoseconds - now + 999_999) / 1_000_000))
    }

    var hasPassed: Bool { Deadline.now() >= nanoseconds }
}
