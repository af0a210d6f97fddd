/// A binary min-heap of values ordered by a key: the least key at hand, push and pop in O(log n).
/// Equal keys come out in no particular order.
public struct MinHeap<Key: Comparable & Sendable, Value: Sendable>: Sendable {
    private var items: [(key: Key, value: Value)] = []

    public init() {}

    /// The entry with the least key, if any.
    public var first: (key: Key, value: Value)? { items.first }
    public var count: Int { items.count }

    public mutating func push(_ key: Key, _ value: Value) {
        items.append((key, value))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].key < items[parent].key else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the entry with the least key.
    @discardableResult
    public mutating func popFirst() -> (key: Key, value: Value)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].key < items[smallest].key { smallest = left }
            if right < items.count, items[right].key < items[smallest].key { smallest = right }
            guard smallest != parent else { return first }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }

    public mutating func removeAll() {
        items.removeAll()
    }
}
