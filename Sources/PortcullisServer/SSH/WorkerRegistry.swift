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

    /// From now on every session ends at its next step.
    func beginStopping() {
        condition.lock()
        stopping = true
        condition.unlock()
    }

    /// Waits until every session has ended (after `beginStopping`), or until `deadline`.
    func waitForAll(deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while running > 0 {
            if !condition.wait(until: deadline) { return running == 0 }
        }
        return true
    }
}
