/// Replies a session holds back until the events they describe are recorded. They go out in the
/// order they were queued: SSH wants global requests answered in the order they came.
final class DeferredReplies {
    private struct Reply {
        let ticket: UInt64
        let send: () -> Void
        let abandon: () -> Void
    }

    private let recorder: any EventRecorder
    private var queue: [Reply] = []
    private var head = 0

    init(recorder: any EventRecorder) {
        self.recorder = recorder
    }

    var isEmpty: Bool { head == queue.count }

    /// Queues `send` to run once `ticket` is recorded (at once if it is and nothing waits before
    /// it); `abandon` runs instead if the session ends first.
    func add(after ticket: UInt64, send: @escaping () -> Void, abandon: @escaping () -> Void) {
        queue.append(Reply(ticket: ticket, send: send, abandon: abandon))
        sendDue()
    }

    /// Sends the replies whose events are recorded, up to the first that is not.
    func sendDue() {
        while head < queue.count, recorder.isRecorded(queue[head].ticket) {
            let reply = queue[head]
            head += 1
            reply.send()
        }
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// The session is ending: nothing more is sent.
    func abandonAll() {
        let left = queue[head...]
        queue = []
        head = 0
        left.forEach { $0.abandon() }
    }
}
