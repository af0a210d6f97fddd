import PortcullisPolicy
import Testing

/// The heap behind the event loops' deadlines and the penalty tables' expiries.
@Suite struct MinHeapTests {
    @Test func popsInKeyOrderWhateverThePushOrder() {
        var heap = MinHeap<Int, String>()
        var generator = SystemRandomNumberGenerator()
        let keys = (0..<500).map { _ in Int.random(in: 0..<100, using: &generator) }
        for key in keys { heap.push(key, "v\(key)") }
        #expect(heap.count == 500 && heap.first?.key == keys.min())
        var popped: [Int] = []
        while let entry = heap.popFirst() {
            #expect(entry.value == "v\(entry.key)")
            popped.append(entry.key)
        }
        #expect(popped == keys.sorted())
        #expect(heap.first == nil && heap.popFirst() == nil)
    }

    @Test func removeAllEmptiesIt() {
        var heap = MinHeap<Double, Int>()
        heap.push(2, 2)
        heap.push(1, 1)
        heap.removeAll()
        #expect(heap.count == 0 && heap.first == nil)
    }
}
