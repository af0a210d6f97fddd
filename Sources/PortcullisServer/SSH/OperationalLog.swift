import Foundation

/// Lines for the daemon's log about the server's own condition (out of descriptors, say), as
/// opposed to what clients did (the audit trail). Each kind of line is written at most once per
/// interval, with how many like it were held back since, so a condition that lasts costs a line
/// now and then, not a line per event.
public final class OperationalLog: @unchecked Sendable {
    private let sink: @Sendable (String) -> Void
    private let interval: UInt64
    private let lock = NSLock()
    private var last: [String: (at: UInt64, held: Int)] = [:]

    /// `sink` receives each line; `interval`: seconds between two lines of one kind.
    public init(interval: Double = 10, sink: @escaping @Sendable (String) -> Void) {
        self.interval = UInt64(interval * 1_000_000_000)
        self.sink = sink
    }

    /// Writes nothing.
    public static let silent = OperationalLog { _ in }

    /// Writes `message` unless a line of `kind` was written less than an interval ago.
    public func warn(_ kind: String, _ message: String) {
        let now = Monotonic.now
        lock.lock()
        let previous = last[kind]
        if let previous, now - previous.at < interval {
            last[kind]?.held += 1
            lock.unlock()
            return
        }
        last[kind] = (now, 0)
        lock.unlock()
        let held = previous?.held ?? 0
        sink(held > 0 ? "\(message) (and \(held) more like it since the last report)" : message)
    }
}
