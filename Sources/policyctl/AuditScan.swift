import Foundation
import PortcullisAudit

/// Streams log lines through an ``AuditMatcher``. A line that is not a record is reported on
/// stderr as `FILE:LINE: reason` and skipped; a line too long to buffer ends the reading of its
/// file. Either counts in ``problems``.
///
/// Several chains (the logs of several proxies) are merged in time order, one line of each held
/// at a time; each chain has its own matcher, since session ids and daemon starts are per proxy.
final class AuditScan {
    private(set) var problems = 0
    private var matchers: [AuditMatcher]

    init(filter: AuditFilter, chains: Int = 1) { matchers = Array(repeating: AuditMatcher(filter: filter), count: max(1, chains)) }

    /// Calls `body` with every record of `files` (oldest first), matching or not, in log order.
    func run(files: [String], _ body: (AuditLine, AuditMatcher.Match) throws -> Void) throws {
        try run(chains: [AuditLogChain(proxy: nil, files: files)]) { line, match, _ in try body(line, match) }
    }

    /// Calls `body` with every record of `chains`, matching or not, and the index of its chain:
    /// each chain in log order, the chains merged by `ts` (a tie goes to the chain given first).
    func run(chains: [AuditLogChain], _ body: (AuditLine, AuditMatcher.Match, Int) throws -> Void) throws {
        if matchers.count < chains.count { matchers += Array(repeating: matchers[0], count: chains.count - matchers.count) }
        let cursors = chains.map { AuditChainCursor(files: $0.files, report: { self.report($0) }) }
        if cursors.count == 1 {
            while let line = try cursors[0].next() {
                if let match = take(line, chain: 0) { try body(line, match, 0) }
            }
            return
        }
        // The next line of each chain, with its time; a line without one goes first.
        var heads: [(line: AuditLine, time: Date?)?] = try cursors.map { try $0.next().map { ($0, Self.time(of: $0)) } }
        while true {
            var pick: Int?
            for (index, head) in heads.enumerated() {
                guard let head else { continue }
                guard let time = head.time else { pick = index; break }
                if let chosen = pick, let other = heads[chosen]?.time, other <= time { continue }
                pick = index
            }
            guard let index = pick, let head = heads[index] else { return }
            heads[index] = try cursors[index].next().map { ($0, Self.time(of: $0)) }
            if let match = take(head.line, chain: index) { try body(head.line, match, index) }
        }
    }

    /// When a line's record was written; nil if it is not a record (it is reported when taken).
    /// `ts` comes first in the log's member order: read from the bytes, without parsing the line
    /// (which the matcher does next), unless the line is written otherwise.
    private static func time(of line: AuditLine) -> Date? {
        let marker = Array(#"{"ts":""#.utf8)
        if line.bytes.starts(with: marker), let end = line.bytes[marker.count...].prefix(64).firstIndex(of: UInt8(ascii: "\"")),
           let date = AuditTimestamp.date(from: String(decoding: line.bytes[marker.count..<end], as: UTF8.self)) {
            return date
        }
        return (try? line.record()).flatMap { AuditTimestamp.date(from: $0.ts) }
    }

    private func take(_ line: AuditLine, chain: Int) -> AuditMatcher.Match? {
        take(line.bytes, file: line.file, number: line.number, terminated: line.terminated, chain: chain)
    }

    /// The match of one line, or nil once a line that is not a record is reported.
    func take(_ bytes: [UInt8], file: String, number: Int, terminated: Bool = true, chain: Int = 0) -> AuditMatcher.Match? {
        do { return try matchers[chain].take(bytes) } catch {
            report("\(file):\(number): \(terminated ? "" : "incomplete last line: ")\(error)")
            return nil
        }
    }

    /// Takes in a line only to learn its session's identity; nothing is reported.
    func observe(_ bytes: [UInt8]) { matchers[0].observe(bytes) }

    /// `policyctl: MESSAGE` on stderr, after what stdout holds so far; a problem counts in ``problems``.
    func report(_ message: String, problem: Bool = true) {
        if problem { problems += 1 }
        StandardOutput.flush()
        FileHandle.standardError.write(Data("policyctl: \(message)\n".utf8))
    }
}

/// The lines of one chain's files in order. One reader per file, so a file that cannot be read to
/// its end (a line too long) does not hide the next.
final class AuditChainCursor {
    private var pending: [String]
    private var reader: AuditReader?
    private var file = ""
    private let report: (String) -> Void

    init(files: [String], report: @escaping (String) -> Void) {
        pending = files
        self.report = report
    }

    /// The next line, or nil after the last file.
    func next() throws -> AuditLine? {
        while true {
            if reader == nil {
                guard !pending.isEmpty else { return nil }
                file = pending.removeFirst()
                reader = AuditReader(files: [file])
            }
            do {
                if let line = try reader?.nextLine() { return line }
            } catch {
                guard case .lineTooLong = error else { throw Failure.usage("cannot read \(error)") }
                report("\(error); the rest of \(file) is skipped")
            }
            reader = nil
        }
    }
}
