import Foundation
import PortcullisAudit

/// The DETAIL column: a record's fields that have no column of their own, in the record's order,
/// in words (`client 127.0.0.1:50312`, `1048576 bytes from client`, `1.503 s`), unknown fields
/// as `name=value`; the reason (or error) last, after a colon.
enum AuditDetail {
    /// Fields shown in columns of their own.
    private static let inColumns: Set<String> = [AuditField.key, AuditField.decision, AuditField.kind, AuditField.target]
    /// Fields shown last.
    private static let last = [AuditField.reason, "error"]

    static func text(of record: AuditRecord) -> String {
        var parts: [String] = []
        for member in record.fields where !inColumns.contains(member.key) && !last.contains(member.key) {
            if let part = phrase(member, in: record) { parts.append(part) }
        }
        let reasons = last.compactMap { record[field: $0].map(plain) }
        return (parts.joined(separator: ", ") + (parts.isEmpty || reasons.isEmpty ? "" : ": ")
            + reasons.joined(separator: "; "))
    }

    /// One field in words; nil for a port, which goes with its address.
    private static func phrase(_ member: JSONMember, in record: AuditRecord) -> String? {
        let value = plain(member.value)
        func address(_ port: String) -> String {
            guard let number = record[field: port].map(plain) else { return value }
            return value.contains(":") ? "[\(value)]:\(number)" : "\(value):\(number)"
        }
        switch member.key {
        case AuditField.clientPort, AuditField.serverPort: return nil
        case AuditField.client: return "client " + address(AuditField.clientPort)
        case AuditField.server: return "server " + address(AuditField.serverPort)
        case AuditField.fingerprint, AuditField.algorithm: return value
        case AuditField.user: return "user " + value
        case AuditField.rule: return "rule " + value
        case AuditField.pattern: return "pattern " + value
        case AuditField.channel: return "channel " + value
        case AuditField.originator: return "from " + value
        case AuditField.bound: return "bound " + value
        case AuditField.bytesFromClient: return value + " bytes from client"
        case AuditField.bytesToClient: return value + " bytes to client"
        case AuditField.channels: return value == "1" ? "1 channel" : value + " channels"
        case AuditField.duration:
            guard case .double(let seconds) = member.value else { return value + " s" }
            return String(format: "%.3f s", seconds)
        default: return "\(member.key)=\(value)"
        }
    }

    /// A string as it is, a list of strings comma-separated, anything else as JSON.
    private static func plain(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .array(let elements) where !elements.isEmpty && elements.allSatisfy({ $0.stringValue != nil }):
            elements.compactMap(\.stringValue).joined(separator: ",")
        default: value.jsonText
        }
    }
}
