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
    private var heap = MinHeap<Double, SourceBlock>()

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
            if let newValue, newValue.expiry != old { heap.push(newValue.expiry, block) }
        }
    }

    /// Drops every penalty that ran out before `now`.
    mutating func expire(now: Double) {
        while let first = heap.first, first.key < now {
            heap.popFirst()
            if let entry = entries[first.value], entry.expiry == first.key { entries[first.value] = nil }
        }
        if heap.count > 2 * entries.count + 64 { rebuild() }
    }

    /// Drops the penalties closest to expiry until the table is within its capacity (permissive overflow).
    mutating func evictOverCapacity() {
        while entries.count > capacity, let first = heap.popFirst() {
            if let entry = entries[first.value], entry.expiry == first.key { entries[first.value] = nil }
        }
    }

    /// New bounds (a reload): a table now over capacity keeps the penalties furthest from expiry.
    mutating func resize(capacity: Int, overflow: PenaltySettings.Overflow) {
        self.capacity = capacity
        self.overflow = overflow
        evictOverCapacity()
    }

    private mutating func rebuild() {
        heap.removeAll()
        for (block, entry) in entries { heap.push(entry.expiry, block) }
    }
}
