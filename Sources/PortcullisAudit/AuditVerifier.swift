import Foundation

/// Checks the hash chain across a log's files: every line a record, `seq` rising by one, and
/// each `prev` the hash of the line before. Stops at the first break.
///
/// An `audit-recovered` record that chains is a crash recovery, not a break: it is listed in the
/// outcome, and the side file it names, when found next to the log file that holds the record
/// (or at the path named), must hold exactly the bytes it notes.
public struct AuditVerifier: Sendable {
    private let hash: AuditChain.Hash

    public init(hash: @escaping AuditChain.Hash) { self.hash = hash }

    /// Verifies `files`, oldest first. The first record may continue an older, since deleted file,
    /// but a record with seq 1 must start from ``AuditChain/genesis``. An edit to the very last
    /// record is beyond what a chain can show. Throws only when a file cannot be read.
    public func verify(files: [String]) throws(AuditError) -> AuditVerification {
        let reader = AuditReader(files: files)
        var previous: (line: AuditLine, seq: UInt64, hash: String)?
        var first: AuditChainPoint?
        var recoveries: [AuditRecoveryNote] = []
        while let line = try reader.nextLine() {
            func broken(_ kind: AuditBreak.Kind, at place: AuditLine = line, _ detail: String) -> AuditVerification {
                .broken(AuditBreak(kind: kind, file: place.file, line: place.number, detail: detail))
            }
            guard line.terminated else { return broken(.truncated, "incomplete last line (no newline)") }
            let record: AuditRecord
            do { record = try line.record() } catch { return broken(.modified, "not a record: \(error)") }
            if let previous {
                if record.seq > previous.seq + 1 {
                    let missing = previous.seq + 1 == record.seq - 1 ? "\(previous.seq + 1)" : "\(previous.seq + 1)-\(record.seq - 1)"
                    return broken(.deleted, "seq \(missing) missing before seq \(record.seq)")
                }
                if record.seq != previous.seq + 1 {
                    return broken(.modified, "seq \(record.seq) follows seq \(previous.seq)")
                }
                if record.prev != previous.hash {
                    return broken(.modified, at: previous.line,
                                  "its hash does not match the prev of \(line.file):\(line.number)")
                }
            } else if (record.seq == 1) != (record.prev == AuditChain.genesis) {
                return broken(.modified, "seq \(record.seq) with prev \(record.prev)")
            }
            if record.event == AuditEvent.auditRecovered {
                let recovery: AuditRecovery
                do { recovery = try AuditRecovery(record: record) } catch {
                    return broken(.modified, "audit-recovered record with \(error)")
                }
                var note = AuditRecoveryNote(file: line.file, line: line.number, seq: record.seq, ts: record.ts,
                                             recovery: recovery, sideFileFound: nil)
                if let side = recovery.sideFile {
                    switch sideFileHolds(recovery, side, nextTo: line.file) {
                    case .found(let path): note.sideFileFound = path
                    case .missing: break
                    case .different(let path):
                        return broken(.modified, "the side file \(path) does not hold the \(recovery.byteCount) bytes "
                                      + "with sha256 \(recovery.sha256) this recovery moved aside")
                    }
                }
                recoveries.append(note)
            }
            let lineHash = hash(Data(line.bytes))
            if first == nil { first = AuditChainPoint(seq: record.seq, hash: lineHash) }
            previous = (line, record.seq, lineHash)
        }
        return .intact(first: first, last: previous.map { AuditChainPoint(seq: $0.seq, hash: $0.hash) }, recoveries: recoveries)
    }

    private enum SideFile {
        case found(String)
        case missing
        case different(String)
    }

    /// Looks for the side file next to `logFile` (the log may have been copied elsewhere), then
    /// at the path the record names, and compares what it holds.
    private func sideFileHolds(_ recovery: AuditRecovery, _ side: String, nextTo logFile: String) -> SideFile {
        let name = URL(fileURLWithPath: side).lastPathComponent
        let nearby = URL(fileURLWithPath: logFile).deletingLastPathComponent().appendingPathComponent(name).path
        for path in nearby == side ? [side] : [nearby, side] {
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            // One byte more than noted, to tell a longer file.
            let limit = Int(min(recovery.byteCount, 1 << 26)) + 1
            guard let bytes = try? handle.read(upToCount: limit) ?? Data() else { return .different(path) }
            return UInt64(bytes.count) == recovery.byteCount && hash(bytes) == recovery.sha256 ? .found(path) : .different(path)
        }
        return .missing
    }
}

/// The outcome of ``AuditVerifier/verify(files:)``.
public enum AuditVerification: Sendable, Hashable {
    /// The chain holds; `first` and `last` are nil for an empty log. `recoveries`: the crash
    /// recoveries in it, oldest first.
    case intact(first: AuditChainPoint?, last: AuditChainPoint?, recoveries: [AuditRecoveryNote] = [])
    case broken(AuditBreak)

    /// 0 intact (recoveries included), 1 tampered or truncated.
    public var exitCode: Int32 {
        if case .intact = self { return 0 }
        return 1
    }
}

/// The first place where the chain breaks.
public struct AuditBreak: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// A record's content changed: it no longer hashes to the next record's `prev`, it does not
        /// parse, or its `seq` goes backwards. `line` is the changed record.
        case modified
        /// Records are missing: `seq` skips. `line` is the record after the gap.
        case deleted
        /// A file ends inside a record. `line` is that partial record.
        case truncated
    }

    public let kind: Kind
    public let file: String
    /// 1-based.
    public let line: Int
    public let detail: String

    public init(kind: Kind, file: String, line: Int, detail: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.detail = detail
    }

    /// `file:line: kind: detail`.
    public var description: String { "\(file):\(line): \(kind.rawValue): \(detail)" }
}
