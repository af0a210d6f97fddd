import PortcullisAudit
import PortcullisPolicy

/// The event and kind names the daemon writes, to catch a misspelt `--event` or `--kind`.
enum AuditVocabulary {
    static let events = AuditEvent.all

    static let kinds = [ForwardRequest.tcpListen(host: "", port: 0), .tcpOpen(host: "", port: 0),
                        .streamLocalListen(path: ""), .streamLocalOpen(path: ""),
                        .namePublish(name: "", port: 0), .nameOpen(name: "", port: 0)].map(\.kind)
}
