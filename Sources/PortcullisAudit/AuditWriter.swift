import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Appends records to the log, one `write(2)` of a whole line each, under a lock that assigns
/// `seq` and `prev`, so the chain has no gaps and no line is ever interleaved with another.
public final class AuditWriter: Sendable {
    public let path: String
    /// The proxy id every record carries (`proxy`); nil writes records without one.
    public let proxy: String?
    private let hash: AuditChain.Hash
    private let now: @Sendable () -> Date
    private let state: Mutex<State>

    private struct State {
        var fd: Int32
        var chain: AuditChainPoint
    }

    /// Opens (creating, mode 0600) the log at `path` for appending and continues its chain from
    /// the last line; an empty or new file continues from its newest rotated sibling
    /// (`path.1` or `path.1.gz`), if any, and otherwise starts at seq 1 with ``AuditChain/genesis``.
    /// A last line that is incomplete or not a record is an error, unless `recoverTornLine`: then
    /// it is moved aside (or, a whole record missing only its newline, completed) and an
    /// `audit-recovered` record notes it, as ``AuditRecovery`` tells; ``recovered`` holds it.
    /// `proxy`: the id every record written carries (the recovery's included).
    public init(path: String, hash: @escaping AuditChain.Hash, now: @escaping @Sendable () -> Date = Date.init,
                recoverTornLine: Bool = false, proxy: String? = nil) throws(AuditError) {
        self.path = path
        self.proxy = proxy
        self.hash = hash
        self.now = now
        recovered = recoverTornLine ? try AuditRecovery.recover(log: path, hash: hash, now: now, proxy: proxy) : nil
        let fd = try Self.open(path)
        do {
            let chain = try Self.resumePoint(path: path, hash: hash)
            state = Mutex(State(fd: fd, chain: chain))
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
        }
    }

    /// What start-up recovery did, and the `audit-recovered` record it wrote; nil if the log
    /// needed none (or `recoverTornLine` was off).
    public let recovered: (recovery: AuditRecovery, record: AuditRecord)?

    /// The last record written (or resumed from).
    public var chainPoint: AuditChainPoint { state.withLock { $0.chain } }

    /// Writes one record and returns it once its line is in the file. Throws, writing nothing,
    /// if a field has a reserved name or the write fails (the caller must then not proceed).
    @discardableResult
    public func append(event: String, session: UInt64? = nil, fields: [JSONMember] = []) throws(AuditError) -> AuditRecord {
        try appendLine(event: event, session: session, fields: fields).record
    }

    /// ``append(event:session:fields:)``, also returning the line as written (without its newline).
    public func appendLine(event: String, session: UInt64? = nil,
                           fields: [JSONMember] = []) throws(AuditError) -> (record: AuditRecord, line: [UInt8]) {
        if let reserved = fields.first(where: { AuditRecord.reservedKeys.contains($0.key) }) {
            throw .reservedField(reserved.key)
        }
        return try state.withLock { (state: inout State) throws(AuditError) -> (record: AuditRecord, line: [UInt8]) in
            let record = AuditRecord(ts: AuditTimestamp.string(from: now()), seq: state.chain.seq + 1, event: event,
                                     session: session, proxy: proxy, fields: fields, prev: state.chain.hash)
            let line = record.line
            try Self.write(line + [UInt8(ascii: "\n")], to: state.fd, path: path)
            state.chain = AuditChainPoint(seq: record.seq, hash: hash(Data(line)))
            return (record, line)
        }
    }

    /// ``append(event:session:fields:)`` with the fields as a literal: `["user": "alex", "port": 22]`.
    @discardableResult
    public func append(event: String, session: UInt64? = nil, fields: KeyValuePairs<String, JSONValue>) throws(AuditError) -> AuditRecord {
        try append(event: event, session: session, fields: fields.map { JSONMember($0.key, $0.value) })
    }

    /// Closes the file and opens `path` afresh (after logrotate moved it away). The chain goes on:
    /// the next record's `prev` is the hash of the last record written to the old file.
    public func reopen() throws(AuditError) {
        let fd = try Self.open(path)
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
            state.fd = fd
        }
    }

    /// Closes the file; later appends fail.
    public func close() {
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
            state.fd = -1
        }
    }

    private static func open(_ path: String) throws(AuditError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .lastSystem("open", path) }
        return fd
    }

    private static func resumePoint(path: String, hash: AuditChain.Hash) throws(AuditError) -> AuditChainPoint {
        var source = path
        var last = try LastLine.of(path)
        if last == nil, let sibling = try AuditReader.logFiles(of: path).last(where: { $0 != path }) {
            source = sibling
            last = try LastLine.of(sibling)
        }
        guard let last else { return .start }
        do {
            return AuditChainPoint(seq: try AuditRecord(line: last).seq, hash: hash(Data(last)))
        } catch {
            throw .unusableLastLine(path: source, reason: error.description)
        }
    }

    /// One `write(2)`; a short write is cut back off the file so no half line stays behind.
    private static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws(AuditError) {
        var written: Int
        repeat {
            written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
        guard written >= 0 else { throw .lastSystem("write", path) }
        guard written == bytes.count else {
            let end = lseek(fd, 0, SEEK_END)
            if end >= written { _ = ftruncate(fd, end - off_t(written)) }
            throw .shortWrite(path: path)
        }
    }
}
