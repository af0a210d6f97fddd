import Foundation

/// What the two halves of a relayed channel tell each other beyond the bytes of the socket pair
/// between them: the link failed (the consumer's channel must end with that reason, never with a
/// clean-looking end of file), or the consumer's side ended before its end of data (the holder's
/// channel must be aborted, not closed with EOF).
public final class RelayEnd: @unchecked Sendable {
    private let lock = NSLock()
    private var failureReason: String?
    private var abortedByConsumer = false
    private var wake: (() -> Void)?

    init() {}

    /// Why the link side failed, once it has.
    var failure: String? {
        lock.lock()
        defer { lock.unlock() }
        return failureReason
    }

    /// The consumer's side ended without everything delivered.
    var consumerAborted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return abortedByConsumer
    }

    /// The link side failed: recorded before its socket closes, then the consumer's loop is woken.
    func fail(_ reason: String) {
        lock.lock()
        if failureReason == nil { failureReason = reason }
        let wake = self.wake
        lock.unlock()
        wake?()
    }

    func abortByConsumer() {
        lock.lock()
        abortedByConsumer = true
        lock.unlock()
    }

    /// `wake` runs (on the link's thread) when the link side fails, at once if it has already.
    func onFailure(_ wake: @escaping () -> Void) {
        lock.lock()
        self.wake = wake
        let failed = failureReason != nil
        lock.unlock()
        if failed { wake() }
    }
}
