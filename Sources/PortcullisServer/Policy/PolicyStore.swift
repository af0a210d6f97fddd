import Foundation
import PortcullisPolicy

/// The policy in force, replaced whole on reload. Sessions read it for every decision, so a reload
/// applies to them at once.
public final class PolicyStore: @unchecked Sendable {
    private let lock = NSLock()
    private var policy: Policy
    private var generationCount: UInt64 = 0

    public init(_ policy: Policy) {
        self.policy = policy
    }

    public var current: Policy {
        lock.lock()
        defer { lock.unlock() }
        return policy
    }

    /// Increases with every replacement; a session compares it to notice a reload.
    public var generation: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return generationCount
    }

    public func replace(with policy: Policy) {
        lock.lock()
        self.policy = policy
        generationCount += 1
        lock.unlock()
    }
}
