/// What start-up recovery did about a log whose last line a crash left torn, as its
/// `audit-recovered` record tells it.
///
/// A torn last line is one without its newline, or a last line that is not a record or does not
/// follow the record before it. One that is a whole record missing only its newline, and follows
/// the record before it, is kept: the newline is added (`completed`). Anything else is moved
/// aside (`moved-aside`): its bytes go, exactly, to a new side file next to the log
/// (`audit.jsonl.torn-20261201T173000.123456Z`, never overwritten, mode no wider than the log's),
/// which is synced before the log is cut back to the last complete record. Either way an
/// `audit-recovered` record continues the chain from the last good record.
public struct AuditRecovery: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case movedAside = "moved-aside"
        case completed
    }

    /// The field names of an `audit-recovered` record.
    public enum Field {
        public static let action = "action"
        public static let reason = "reason"
        /// The log file that ended in the torn line.
        public static let file = "file"
        /// Where in it the torn bytes began.
        public static let offset = "offset"
        public static let bytes = "bytes"
        /// Lowercase hex SHA-256 of the torn bytes.
        public static let sha256 = "sha256"
        /// Where they were moved to (moved-aside only).
        public static let sideFile = "side_file"
    }

    public let action: Action
    public let reason: String
    public let file: String
    public let offset: UInt64
    public let byteCount: UInt64
    public let sha256: String
    public let sideFile: String?

    public init(action: Action, reason: String, file: String, offset: UInt64, byteCount: UInt64, sha256: String,
                sideFile: String?) {
        self.action = action
        self.reason = reason
        self.file = file
        self.offset = offset
        self.byteCount = byteCount
        self.sha256 = sha256
        self.sideFile = sideFile
    }

    /// The record's fields, in the order written.
    public var fields: [JSONMember] {
        var fields = [JSONMember(Field.action, .string(action.rawValue)), JSONMember(Field.reason, .string(reason)),
                      JSONMember(Field.file, .string(file)), JSONMember(Field.offset, .int(Int64(offset))),
                      JSONMember(Field.bytes, .int(Int64(byteCount))), JSONMember(Field.sha256, .string(sha256))]
        if let sideFile { fields.append(JSONMember(Field.sideFile, .string(sideFile))) }
        return fields
    }

    /// Reads the fields of an `audit-recovered` record back; throws naming what is missing or wrong.
    public init(record: AuditRecord) throws(AuditRecordError) {
        guard let action = record[field: Field.action]?.stringValue.flatMap(Action.init(rawValue:)) else {
            throw .missing(Field.action)
        }
        guard let reason = record[field: Field.reason]?.stringValue else { throw .missing(Field.reason) }
        guard let file = record[field: Field.file]?.stringValue else { throw .missing(Field.file) }
        guard let offset = record[field: Field.offset]?.intValue, offset >= 0 else { throw .missing(Field.offset) }
        guard let bytes = record[field: Field.bytes]?.intValue, bytes >= 0 else { throw .missing(Field.bytes) }
        guard let sha256 = record[field: Field.sha256]?.stringValue, sha256.utf8.count == 64,
              sha256.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else { throw .missing(Field.sha256) }
        let side = record[field: Field.sideFile]?.stringValue
        if action == .movedAside && side == nil { throw .missing(Field.sideFile) }
        self.init(action: action, reason: reason, file: file, offset: UInt64(offset), byteCount: UInt64(bytes),
                  sha256: sha256, sideFile: side)
    }
}
