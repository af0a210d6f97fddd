/// Counts occurrences of items in bounded memory (the Space-Saving algorithm): at most `capacity`
/// items are kept; a new item beyond that replaces the least counted one and inherits its count
/// plus one. Counts are exact as long as no more than `capacity` distinct items were seen
/// (``isExact``); after that the most frequent items are still found, with counts that may be
/// over by at most the replaced count.
struct TopCounter<Item: Hashable> {
    let capacity: Int
    private(set) var counts: [Item: Int] = [:]
    private(set) var isExact = true

    init(capacity: Int) { self.capacity = capacity }

    /// Counts `item` once; returns the item it displaced, if any.
    @discardableResult
    mutating func add(_ item: Item) -> Item? {
        if let count = counts[item] {
            counts[item] = count + 1
            return nil
        }
        guard counts.count >= capacity, let least = counts.min(by: { $0.value < $1.value }) else {
            counts[item] = 1
            return nil
        }
        isExact = false
        counts[least.key] = nil
        counts[item] = least.value + 1
        return least.key
    }

    /// The `limit` most counted items, most first (ties in `order`).
    func top(_ limit: Int, by order: (Item, Item) -> Bool) -> [(item: Item, count: Int)] {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : order($0.key, $1.key) }
            .prefix(limit).map { ($0.key, $0.value) }
    }
}
