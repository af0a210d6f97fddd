#if canImport(Glibc)
import Glibc
#endif
import PortcullisPolicy

/// Monotonic time in nanoseconds, for deadlines that a clock change cannot move.
enum Monotonic {
    static var now: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// `seconds` from now.
    static func after(seconds: Double) -> UInt64 {
        now + UInt64(max(0, seconds) * 1_000_000_000)
    }
}

/// The sessions of a loop that have something due at a time (login grace, a connect or resolver
/// deadline, a paused listener to resume), soonest first. An entry whose session has since moved
/// its deadline is skipped when it comes up, so rescheduling costs one push.
struct TimerQueue {
    private var heap = MinHeap<UInt64, ObjectIdentifier>()

    /// The earliest deadline, if any.
    var earliest: UInt64? { heap.first?.key }

    mutating func schedule(_ session: ObjectIdentifier, at deadline: UInt64) {
        heap.push(deadline, session)
    }

    /// Removes and returns the entries due at `now`, earliest first.
    mutating func popDue(now: UInt64) -> [(deadline: UInt64, session: ObjectIdentifier)] {
        var due: [(deadline: UInt64, session: ObjectIdentifier)] = []
        while let first = heap.first, first.key <= now {
            heap.popFirst()
            due.append((first.key, first.value))
        }
        return due
    }
}
