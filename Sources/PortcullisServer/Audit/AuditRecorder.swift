import PortcullisAudit
import Synchronization

/// Records the server's events in the audit trail: each becomes one record, written off the
/// event loops, and the loops are woken as records reach the file. Every record of an
/// authenticated session names its key (`key`), so a record read alone says whose it is.
public struct AuditRecorder: EventRecorder {
    /// Records waiting beyond this many hold new connections on forwards back.
    public static let congestionLimit = 10_000

    private let trail: AuditTrail
    private let echo: (@Sendable (ServerEvent) -> Void)?
    private let sessionKeys = SessionKeyNames()

    /// `echo` sees each event once its record is written (the daemon's stderr log).
    public init(trail: AuditTrail, echo: (@Sendable (ServerEvent) -> Void)? = nil) {
        self.trail = trail
        self.echo = echo
    }

    public func record(_ event: ServerEvent) -> UInt64 {
        let (name, session, fields) = event.auditRecord(sessionKeys: sessionKeys)
        guard let echo else { return trail.submit(event: name, session: session, fields: fields) }
        return trail.submit(event: name, session: session, fields: fields) { _ in echo(event) }
    }

    public func isRecorded(_ ticket: UInt64) -> Bool { trail.isWritten(ticket) }

    public func onProgress(_ wake: @escaping @Sendable () -> Void) { trail.onProgress(wake) }

    public var isCongested: Bool { trail.backlog > Self.congestionLimit }
}

/// The key name of each authenticated session, from its auth record to its session-end record.
public final class SessionKeyNames: Sendable {
    private let names = Mutex<[UInt64: String]>([:])

    public init() {}

    /// The key name `session` authenticated with, as of `event` of that session (nil before it
    /// has): an auth record starts it, a session-end record is the last to get it.
    public func keyName(for event: ServerEvent, session: UInt64) -> String? {
        switch event {
        case .authenticated(_, _, _, let keyName):
            names.withLock { $0[session] = keyName }
            return keyName
        case .sessionClosed:
            return names.withLock { $0.removeValue(forKey: session) }
        default:
            return names.withLock { $0[session] }
        }
    }
}
