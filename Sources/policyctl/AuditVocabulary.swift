import PortcullisAudit
import PortcullisPolicy

/// The event and kind names the daemon writes, to catch a misspelt `--event` or `--kind`.
enum AuditVocabulary {
    static let events = [
        AuditEvent.daemonStart, AuditEvent.daemonReload, AuditEvent.daemonStop, AuditEvent.staleSocketRemoved,
        AuditEvent.sessionStart, AuditEvent.auth, AuditEvent.forwardRequest, AuditEvent.forwardBound,
        AuditEvent.forwardFailed, AuditEvent.forwardCancelled, AuditEvent.channelOpen, AuditEvent.channelClose,
        AuditEvent.sessionEnd,
    ]

    static let kinds = [ForwardRequest.tcpListen(host: "", port: 0), .tcpOpen(host: "", port: 0),
                        .streamLocalListen(path: ""), .streamLocalOpen(path: "")].map(\.kind)
}
