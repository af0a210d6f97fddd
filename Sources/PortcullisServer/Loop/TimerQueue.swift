#if canImport(Glibc)
import Glibc
#endif

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
/// deadline, a paused listener to resume): a binary min-heap of deadlines. An entry whose session
/// has since moved its deadline is skipped when it comes up, so rescheduling costs one push.
struct TimerQueue {
    private var heap: [(deadline: UInt64, session: ObjectIdentifier)] = []

    /// The earliest deadline, if any.
    var earliest: UInt64? { heap.first?.deadline }

    mutating func schedule(_ session: ObjectIdentifier, at deadline: UInt64) {
        heap.append((deadline, session))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the entries due at `now`, earliest first.
    mutating func popDue(now: UInt64) -> [(deadline: UInt64, session: ObjectIdentifier)] {
        var due: [(deadline: UInt64, session: ObjectIdentifier)] = []
        while let first = heap.first, first.deadline <= now {
            due.append(first)
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(from: 0)
            }
        }
        return due
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
