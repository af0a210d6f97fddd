/// The penalties of one address family: outstanding penalty per source, bounded in size
/// (max-sources4/6), with the soonest expiry always at hand so that expiring and evicting never
/// scan the table.
struct PenaltyTable: Sendable {
    struct Entry: Sendable {
        var expiry: Double
        /// Enforced: more than `min` seconds were outstanding at some point of this period.
        var active: Bool
        var reason: String
        /// Which period of enforcement this is (for one audit record per source per period).
        var period: UInt64
        /// Whether a refusal was already recorded in this period.
        var refusalRecorded: Bool
    }

    private(set) var capacity: Int
    private(set) var overflow: PenaltySettings.Overflow
    private(set) var entries: [SourceBlock: Entry] = [:]
    /// Min-heap on expiry; an item whose expiry no longer matches its entry is stale and skipped.
    private var heap: [(expiry: Double, block: SourceBlock)] = []

    init(capacity: Int, overflow: PenaltySettings.Overflow) {
        self.capacity = capacity
        self.overflow = overflow
    }

    var count: Int { entries.count }
    var isFull: Bool { entries.count >= capacity }

    subscript(block: SourceBlock) -> Entry? {
        get { entries[block] }
        set {
            let old = entries[block]?.expiry
            entries[block] = newValue
            if let newValue, newValue.expiry != old { push(newValue.expiry, block) }
        }
    }

    /// Drops every penalty that ran out before `now`.
    mutating func expire(now: Double) {
        while let first = heap.first, first.expiry < now {
            popMin()
            if let entry = entries[first.block], entry.expiry == first.expiry { entries[first.block] = nil }
        }
        if heap.count > 2 * entries.count + 64 { rebuild() }
    }

    /// Drops the penalties closest to expiry until the table is within its capacity (permissive overflow).
    mutating func evictOverCapacity() {
        while entries.count > capacity, let first = heap.first {
            popMin()
            if let entry = entries[first.block], entry.expiry == first.expiry { entries[first.block] = nil }
        }
    }

    /// New bounds (a reload): a table now over capacity keeps the penalties furthest from expiry.
    mutating func resize(capacity: Int, overflow: PenaltySettings.Overflow) {
        self.capacity = capacity
        self.overflow = overflow
        evictOverCapacity()
    }

    private mutating func rebuild() {
        heap = []
        for (block, entry) in entries { push(entry.expiry, block) }
    }

    private mutating func push(_ expiry: Double, _ block: SourceBlock) {
        heap.append((expiry, block))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].expiry < heap[parent].expiry else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popMin() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].expiry < heap[smallest].expiry { smallest = left }
            if right < heap.count, heap[right].expiry < heap[smallest].expiry { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
