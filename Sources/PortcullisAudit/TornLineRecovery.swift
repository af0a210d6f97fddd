import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Start-up recovery of a log whose last line a crash left torn; see ``AuditRecovery``.
extension AuditRecovery {
    /// Writes a side file's bytes and syncs them; injected by tests to fail like a full disk.
    typealias SideWriter = (_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(AuditError) -> Void

    /// Recovers the log at `path`, or, when it is empty or missing, its newest rotated sibling
    /// (plain, not `.gz`), if its last line is torn; returns what was done, nil if nothing was
    /// needed. Throws, changing nothing in the log, when the side file cannot be written (a full
    /// disk: ``AuditError/sideFileFailed(log:sideFile:call:errno:)``) or when more than the last
    /// line is damaged, which no crash of the writer leaves. `proxy`: the id the
    /// `audit-recovered` record carries.
    public static func recover(log path: String, hash: AuditChain.Hash, now: @Sendable () -> Date = Date.init,
                               proxy: String? = nil) throws(AuditError) -> (recovery: AuditRecovery, record: AuditRecord)? {
        try recover(log: path, hash: hash, now: now, proxy: proxy, writeSide: writeAndSync)
    }

    static func recover(log path: String, hash: AuditChain.Hash, now: () -> Date, proxy: String? = nil,
                        writeSide: SideWriter) throws(AuditError) -> (recovery: AuditRecovery, record: AuditRecord)? {
        var target = path
        var info = stat()
        if stat(path, &info) == 0 {
            // Only a regular file can be cut back (not /dev/null as a log).
            guard info.st_mode & S_IFMT == S_IFREG else { return nil }
        } else if errno != ENOENT {
            throw .lastSystem("stat", path)
        }
        if info.st_size == 0 {
            guard let sibling = try AuditReader.logFiles(of: path).last(where: { $0 != path }),
                  !sibling.hasSuffix(".gz") else { return nil }
            target = sibling
        }
        let fd = open(target, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .lastSystem("open", target) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { throw .lastSystem("fstat", target) }
        guard info.st_mode & S_IFMT == S_IFREG else { return nil }
        guard let damage = try damage(fd: fd, file: target, log: path, hash: hash) else { return nil }
        return try repair(damage, fd: fd, file: target, mode: info.st_mode & 0o666, hash: hash, now: now(), proxy: proxy,
                          writeSide: writeSide)
    }

    /// A torn end found: its bytes, where they start, why they cannot stay as they are, and the
    /// record the `audit-recovered` record follows; `completes` when they are a whole record that stays.
    private struct Damage {
        var bytes: [UInt8]
        var offset: Int
        var reason: String
        var after: AuditChainPoint
        var completes: Bool
    }

    private static func damage(fd: Int32, file: String, log: String, hash: AuditChain.Hash) throws(AuditError) -> Damage? {
        let tail = try LogTail.read(fd: fd, path: file, lines: 2)
        // The chain point of a complete line, which must be a record: two damaged lines are more than a crash.
        func point(of line: LogTail.Line, before damaged: String) throws(AuditError) -> AuditChainPoint {
            do {
                return AuditChainPoint(seq: try AuditRecord(line: line.bytes).seq, hash: hash(Data(line.bytes)))
            } catch {
                throw .unusableLastLine(path: file, reason: "\(damaged), and the line before it is not a record either (\(error)); "
                                        + "this is more than a crash leaves")
            }
        }
        if !tail.torn.isEmpty {
            let after: AuditChainPoint
            if let line = tail.lines.last {
                after = try point(of: line, before: "no newline at the end")
            } else {
                after = try predecessor(of: file, log: log, hash: hash)
            }
            switch parse(tail.torn) {
            case .success(let record) where follows(record, after):
                return Damage(bytes: tail.torn, offset: tail.tornOffset, reason: "a whole record missing only its newline; the newline was added",
                              after: AuditChainPoint(seq: record.seq, hash: hash(Data(tail.torn))), completes: true)
            case .success(let record):
                return Damage(bytes: tail.torn, offset: tail.tornOffset,
                              reason: "last line has no newline and does not follow the record before it (seq \(record.seq) after seq \(after.seq))",
                              after: after, completes: false)
            case .failure:
                return Damage(bytes: tail.torn, offset: tail.tornOffset, reason: "incomplete last line (no newline at the end)",
                              after: after, completes: false)
            }
        }
        guard let last = tail.lines.last else { return nil }
        let problem: String
        switch parse(last.bytes) {
        case .success(let record):
            // The first line of a file only has to be a record: after `copytruncate` the file
            // before it may lack records it continues. A record after a line that is not one is
            // left for `policyctl audit verify` to name, as before.
            guard last.offset > 0, case .success(let before) = parse(tail.lines[0].bytes) else { return nil }
            let after = AuditChainPoint(seq: before.seq, hash: hash(Data(tail.lines[0].bytes)))
            if follows(record, after) { return nil }
            problem = "last line does not follow the record before it (seq \(record.seq) after seq \(after.seq))"
        case .failure(let error):
            problem = "last line is not a record (\(error))"
        }
        let after = last.offset > 0 ? try point(of: tail.lines[0], before: problem) : try predecessor(of: file, log: log, hash: hash)
        return Damage(bytes: last.bytes + [UInt8(ascii: "\n")], offset: last.offset, reason: problem, after: after, completes: false)
    }

    private static func parse(_ line: [UInt8]) -> Result<AuditRecord, AuditRecordError> {
        do { return .success(try AuditRecord(line: line)) } catch { return .failure(error) }
    }

    /// Whether `record` continues the chain at `point`.
    private static func follows(_ record: AuditRecord, _ point: AuditChainPoint) -> Bool {
        record.seq == point.seq + 1 && record.prev == point.hash
    }

    /// The last record before the first line of `file`: the last line of the log file just older
    /// than it, or the start of a chain when there is none.
    private static func predecessor(of file: String, log: String, hash: AuditChain.Hash) throws(AuditError) -> AuditChainPoint {
        let files = try AuditReader.logFiles(of: log)
        guard let index = files.firstIndex(of: file), index > 0, let last = try LastLine.of(files[index - 1]) else {
            return .start
        }
        do {
            return AuditChainPoint(seq: try AuditRecord(line: last).seq, hash: hash(Data(last)))
        } catch {
            throw .unusableLastLine(path: files[index - 1], reason: error.description)
        }
    }

    private static func repair(_ damage: Damage, fd: Int32, file: String, mode: mode_t, hash: AuditChain.Hash,
                               now: Date, proxy: String?, writeSide: SideWriter) throws(AuditError) -> (recovery: AuditRecovery, record: AuditRecord) {
        var side: String?
        if !damage.completes {
            side = try moveAside(damage.bytes, of: file, mode: mode, at: now, writeSide: writeSide)
        }
        let recovery = AuditRecovery(action: damage.completes ? .completed : .movedAside, reason: damage.reason, file: file,
                                     offset: UInt64(damage.offset), byteCount: UInt64(damage.bytes.count),
                                     sha256: hash(Data(damage.bytes)), sideFile: side)
        let record = AuditRecord(ts: AuditTimestamp.string(from: now), seq: damage.after.seq + 1, event: AuditEvent.auditRecovered,
                                 session: nil, proxy: proxy, fields: recovery.fields, prev: damage.after.hash)
        let newline = [UInt8(ascii: "\n")]
        // Over the moved bytes (they are safe in the side file), then cut what is left of them:
        // a crash in between leaves a shorter torn end, recovered the same way at the next start.
        let (bytes, at) = damage.completes ? (newline + record.line + newline, damage.offset + damage.bytes.count)
            : (record.line + newline, damage.offset)
        try writeAll(fd: fd, bytes, at: at, path: file)
        guard ftruncate(fd, off_t(at + bytes.count)) == 0 else { throw .lastSystem("ftruncate", file) }
        guard fsync(fd) == 0 else { throw .lastSystem("fsync", file) }
        return (recovery, record)
    }

    /// Creates a new side file next to `file` holding `bytes`, synced with its directory; returns
    /// its path. On failure nothing of it is left.
    private static func moveAside(_ bytes: [UInt8], of file: String, mode: mode_t, at time: Date,
                                  writeSide: SideWriter) throws(AuditError) -> String {
        let stamp = AuditTimestamp.string(from: time).filter { $0 != "-" && $0 != ":" }
        var path = "\(file).torn-\(stamp)"
        var fd: Int32 = -1
        for attempt in 0..<1000 {
            if attempt > 0 { path = "\(file).torn-\(stamp).\(attempt)" }
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .sideFileFailed(log: file, sideFile: path, call: "open", errno: errno) }
        do throws(AuditError) {
            try writeSide(fd, bytes, path)
            guard close(fd) == 0 else { throw AuditError.lastSystem("close", path) }
            fd = -1
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dirfd >= 0 else { throw AuditError.lastSystem("open", directory) }
            defer { close(dirfd) }
            guard fsync(dirfd) == 0 else { throw AuditError.lastSystem("fsync", directory) }
        } catch {
            if fd >= 0 { close(fd) }
            unlink(path)
            if case .system(let call, _, let number) = error {
                throw .sideFileFailed(log: file, sideFile: path, call: call, errno: number)
            }
            throw error
        }
        return path
    }

    /// Writes all of `bytes` to the new side file and syncs it.
    static func writeAndSync(fd: Int32, _ bytes: [UInt8], path: String) throws(AuditError) {
        var done = 0
        while done < bytes.count {
            let count = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw count == 0 ? .system(call: "write", path: path, errno: EIO) : .lastSystem("write", path) }
            done += count
        }
        guard fsync(fd) == 0 else { throw .lastSystem("fsync", path) }
    }

    private static func writeAll(fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(AuditError) {
        var done = 0
        while done < bytes.count {
            let count = bytes[done...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset + done)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw count == 0 ? .system(call: "pwrite", path: path, errno: EIO) : .lastSystem("pwrite", path) }
            done += count
        }
    }
}
