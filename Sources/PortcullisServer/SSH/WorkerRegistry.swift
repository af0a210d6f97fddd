import Foundation

/// The sessions running, and whether the server is shutting down: workers check in and out, and
/// a graceful stop waits for the last one.
final class WorkerRegistry: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = 0
    private var stopping = false

    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return running
    }

    func enter() {
        condition.lock()
        running += 1
        condition.unlock()
    }

    func leave() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Asks every session to end and waits until they have, or until `deadline`.
    func stopAll(deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        while running > 0 {
            if !condition.wait(until: deadline) { return running == 0 }
        }
        return true
    }
}
