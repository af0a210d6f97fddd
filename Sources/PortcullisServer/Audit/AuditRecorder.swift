import PortcullisAudit

/// Records the server's events in the audit trail: each becomes one record, written off the
/// event loops, and the loops are woken as records reach the file.
public struct AuditRecorder: EventRecorder {
    /// Records waiting beyond this many hold new connections on forwards back.
    public static let congestionLimit = 10_000

    private let trail: AuditTrail
    private let echo: (@Sendable (ServerEvent) -> Void)?

    /// `echo` sees each event once its record is written (the daemon's stderr log).
    public init(trail: AuditTrail, echo: (@Sendable (ServerEvent) -> Void)? = nil) {
        self.trail = trail
        self.echo = echo
    }

    public func record(_ event: ServerEvent) -> UInt64 {
        let (name, session, fields) = event.auditRecord
        guard let echo else { return trail.submit(event: name, session: session, fields: fields) }
        return trail.submit(event: name, session: session, fields: fields) { _ in echo(event) }
    }

    public func isRecorded(_ ticket: UInt64) -> Bool { trail.isWritten(ticket) }

    public func onProgress(_ wake: @escaping @Sendable () -> Void) { trail.onProgress(wake) }

    public var isCongested: Bool { trail.backlog > Self.congestionLimit }
}
