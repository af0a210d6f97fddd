import Foundation
import Yams

extension KeyEntryParser {
    /// Parses a list of key entries of `document`, in order, with their problems in order. A long
    /// list (a big proxy's thousands of keys) is split over every core: loading runs at start and on
    /// every reload, and the keys are independent of each other.
    static func parseAll(_ nodes: [Node], document: YAMLDocument,
                         socketRoot: String?) -> (entries: [KeyEntry], problems: [ConfigProblem]) {
        let chunks = nodes.count < 1000 ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let size = (nodes.count + chunks - 1) / max(chunks, 1)
        let results = UnsafeMutableBufferPointer<(entries: [KeyEntry], problems: [ConfigProblem])>.allocate(capacity: chunks)
        results.initialize(repeating: ([], []))
        defer {
            results.deinitialize()
            results.deallocate()
        }
        // Each chunk writes only its own slot; the nodes and the document are only read.
        nonisolated(unsafe) let slots = results
        nonisolated(unsafe) let nodes = nodes
        nonisolated(unsafe) let document = document
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var reader = NodeReader(document: document)
            var entries: [KeyEntry] = []
            for node in nodes[min(chunk * size, nodes.count)..<min((chunk + 1) * size, nodes.count)] {
                if let entry = parse(node, reader: &reader, socketRoot: socketRoot) { entries.append(entry) }
            }
            slots[chunk] = (entries, reader.problems)
        }
        return (results.flatMap(\.entries), results.flatMap(\.problems))
    }
}
