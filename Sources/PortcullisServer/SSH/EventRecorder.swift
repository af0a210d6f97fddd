/// Where the server reports what happens, in order. The audit trail implements it (a record per
/// event, written off the event loops); tests observe with ``ObservingRecorder``.
///
/// A session holds back the reply an event describes until ``isRecorded(_:)`` says its ticket is
/// recorded, so nothing is granted or refused unrecorded.
public protocol EventRecorder: Sendable {
    /// Takes `event` for recording without blocking and returns its ticket.
    func record(_ event: ServerEvent) -> UInt64
    /// Whether the event of `ticket`, and every event before it, is recorded.
    func isRecorded(_ ticket: UInt64) -> Bool
    /// `wake` is called, from any thread, whenever more events have been recorded.
    func onProgress(_ wake: @escaping @Sendable () -> Void)
    /// Whether so much waits to be recorded that new connections on forwards should wait.
    var isCongested: Bool { get }
}

/// Hands each event to a closure at once: recorded as soon as it is reported.
public struct ObservingRecorder: EventRecorder {
    private let observer: @Sendable (ServerEvent) -> Void

    public init(_ observer: @escaping @Sendable (ServerEvent) -> Void) {
        self.observer = observer
    }

    public func record(_ event: ServerEvent) -> UInt64 {
        observer(event)
        return 0
    }

    public func isRecorded(_ ticket: UInt64) -> Bool { true }
    public func onProgress(_ wake: @escaping @Sendable () -> Void) {}
    public var isCongested: Bool { false }
}
