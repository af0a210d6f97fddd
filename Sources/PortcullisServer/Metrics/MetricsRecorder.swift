/// An ``EventRecorder`` that also counts each event in ``ServerMetrics`` before handing it on.
public struct MetricsRecorder: EventRecorder {
    private let inner: any EventRecorder
    private let metrics: ServerMetrics

    public init(_ inner: any EventRecorder, metrics: ServerMetrics) {
        self.inner = inner
        self.metrics = metrics
    }

    public func record(_ event: ServerEvent) -> UInt64 {
        metrics.observe(event)
        return inner.record(event)
    }

    public func isRecorded(_ ticket: UInt64) -> Bool { inner.isRecorded(ticket) }
    public func onProgress(_ wake: @escaping @Sendable () -> Void) { inner.onProgress(wake) }
    public var isCongested: Bool { inner.isCongested }
}
