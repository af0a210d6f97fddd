import Foundation
import Synchronization

/// The daemon's side of the audit log: callers hand records over without touching the disk, and
/// one writer thread appends them, in the order handed over, through an ``AuditWriter``.
///
/// Each record gets a ticket; ``isWritten(_:)`` tells when it (and everything before it) is in
/// the file, so a caller can hold back the reply a record describes until then. A write that fails
/// (a full disk) is retried, never skipped: records wait, and so do the replies behind them.
public final class AuditTrail: @unchecked Sendable {
    /// Position of a record in the order records were handed over, from 1.
    public typealias Ticket = UInt64

    /// One record waiting for the writer, and what to do once it is written.
    private struct Entry {
        var event: String
        var session: UInt64?
        var fields: [JSONMember]
        var written: (@Sendable (AuditRecord?) -> Void)?
    }

    private let writer: AuditWriter?
    private let syslog: SyslogSender?
    private let report: @Sendable (String) -> Void
    private let retryInterval: TimeInterval
    private let condition = NSCondition()
    private var queue: [Entry] = []
    private var submitted: Ticket = 0
    private var reopenRequested = false
    private var closing = false
    private var stopped = false
    private var progressHandlers: [@Sendable () -> Void] = []
    private var writeObservers: [@Sendable (Double) -> Void] = []
    private let writtenThrough = Atomic<UInt64>(0)
    /// `submitted`, readable without the lock.
    private let handedOver = Atomic<UInt64>(0)

    /// `writer` nil: auditing is off; records are only passed to their `written` closures (with
    /// nil). `syslog`: also sends each line there. `report`: problems, e.g. a failing disk.
    public init(writer: AuditWriter?, syslog: SyslogSender? = nil, retryInterval: TimeInterval = 1,
                report: @escaping @Sendable (String) -> Void) {
        self.writer = writer
        self.syslog = syslog
        self.report = report
        self.retryInterval = retryInterval
        let thread = Thread { [self] in run() }
        thread.name = "portcullis-audit"
        thread.start()
    }

    /// Whether records go to a file at all.
    public var isEnabled: Bool { writer != nil }

    /// Hands a record over and returns its ticket at once. `written` runs on the writer thread
    /// after the line is in the file (with the record as written; nil when auditing is off).
    @discardableResult
    public func submit(event: String, session: UInt64? = nil, fields: [JSONMember] = [],
                       written: (@Sendable (AuditRecord?) -> Void)? = nil) -> Ticket {
        condition.lock()
        defer { condition.unlock() }
        submitted += 1
        handedOver.store(submitted, ordering: .relaxed)
        queue.append(Entry(event: event, session: session, fields: fields, written: written))
        condition.signal()
        return submitted
    }

    /// Whether the record of `ticket` and every one before it are written.
    public func isWritten(_ ticket: Ticket) -> Bool {
        writtenThrough.load(ordering: .acquiring) >= ticket
    }

    /// Records handed over and not yet written.
    public var backlog: Int {
        let written = writtenThrough.load(ordering: .relaxed)
        let submitted = handedOver.load(ordering: .relaxed)
        return submitted > written ? Int(submitted - written) : 0
    }

    /// Waits until `ticket` is written, at most `timeout` seconds; returns whether it was.
    @discardableResult
    public func waitUntilWritten(_ ticket: Ticket, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !isWritten(ticket) {
            if !condition.wait(until: deadline) { return isWritten(ticket) }
        }
        return true
    }

    /// `handler` runs on the writer thread each time more records have been written.
    public func onProgress(_ handler: @escaping @Sendable () -> Void) {
        condition.lock()
        progressHandlers.append(handler)
        condition.unlock()
    }

    /// `observer` runs on the writer thread with the seconds each record took to write (metrics).
    public func observeWrites(_ observer: @escaping @Sendable (Double) -> Void) {
        condition.lock()
        writeObservers.append(observer)
        condition.unlock()
    }

    /// Has the writer close the file and open its path afresh before the next record (after
    /// logrotate moved it). The chain goes on across the two files.
    public func reopen() {
        condition.lock()
        reopenRequested = true
        condition.signal()
        condition.unlock()
    }

    /// Writes what was handed over, then stops the writer: at most `timeout` seconds.
    /// Returns whether everything was written.
    @discardableResult
    public func close(timeout: TimeInterval) -> Bool {
        condition.lock()
        let last = submitted
        closing = true
        condition.broadcast()
        condition.unlock()
        let done = waitUntilWritten(last, timeout: timeout)
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        writer?.close()
        return done
    }

    // MARK: - The writer thread

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !reopenRequested && !closing {
                condition.wait()
            }
            let batch = queue
            queue = []
            let reopen = reopenRequested
            reopenRequested = false
            let handlers = progressHandlers
            let observers = writeObservers
            let finished = closing && batch.isEmpty
            condition.unlock()
            if reopen { reopenFile() }
            if finished { return }
            for entry in batch {
                let started = observers.isEmpty ? 0 : DispatchTime.now().uptimeNanoseconds
                guard let record = write(entry) else { return }
                if !observers.isEmpty, writer != nil {
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    observers.forEach { $0(seconds) }
                }
                entry.written?(record.record)
                if !record.line.isEmpty { syslog?.send(record.line) }
                writtenThrough.add(1, ordering: .releasing)
            }
            condition.lock()
            condition.broadcast()
            condition.unlock()
            handlers.forEach { $0() }
        }
    }

    /// Appends one entry, retrying until it is written; nil if the trail was stopped meanwhile.
    private func write(_ entry: Entry) -> (record: AuditRecord?, line: [UInt8])? {
        guard let writer else { return (nil, []) }
        var failing = false
        while true {
            do {
                let (record, line) = try writer.appendLine(event: entry.event, session: entry.session, fields: entry.fields)
                if failing { report("audit log \(writer.path) is being written again") }
                return (record, line)
            } catch {
                if !failing {
                    report("cannot write the audit log: \(error); new forwards wait until it can be written")
                    failing = true
                }
            }
            condition.lock()
            if stopped {
                condition.unlock()
                report("stopped with audit records unwritten")
                return nil
            }
            _ = condition.wait(until: Date().addingTimeInterval(retryInterval))
            let reopen = reopenRequested
            reopenRequested = false
            condition.unlock()
            if reopen { reopenFile() }
        }
    }

    private func reopenFile() {
        guard let writer else { return }
        do {
            try writer.reopen()
        } catch {
            report("cannot reopen the audit log, writing on to the old file: \(error)")
        }
    }
}
