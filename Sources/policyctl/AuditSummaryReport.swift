import PortcullisAudit

/// The summary as `--json` prints it and the text tables are made from.
struct AuditSummaryReport: Encodable {
    struct RefusedTarget: Encodable {
        let kind: String
        let target: String
        let count: Int
    }

    struct Key: Encodable {
        let key: String
        let sessions: Int
        let failedLogins: Int
        let grants: Int
        let refusals: Int
        let bytesFromClient: Int64
        let bytesToClient: Int64
        let topRefusedTargets: [RefusedTarget]
        /// False once more distinct targets were refused than are counted; counts may then be over.
        let refusedTargetsExact: Bool
        let lastSeen: String
    }

    struct UnknownKey: Encodable {
        let fingerprint: String
        let failedLogins: Int
        let lastSeen: String
        let lastUser: String
        let lastClient: String
    }

    struct Listen: Encodable {
        let kind: String
        let target: String
        let bound: String
    }

    struct OpenSession: Encodable {
        /// The proxy that holds it; absent for a log from before proxy ids.
        let proxy: String?
        let session: UInt64
        let key: String?
        let user: String?
        let client: String
        let started: String
        let listens: [Listen]
    }

    let recordsRead: Int
    let recordsMatched: Int
    /// The timestamp of the last record read (up to --until): open sessions are as of then.
    let asOf: String?
    let keys: [Key]
    let unknownKeys: [UnknownKey]
    /// False once more distinct unknown fingerprints were seen than are kept.
    let unknownKeysExact: Bool
    let openSessions: [OpenSession]

    init(_ tally: AuditTally) {
        recordsRead = tally.recordsRead
        recordsMatched = tally.recordsMatched
        asOf = tally.lastTimestamp
        keys = tally.keys.sorted { $0.key < $1.key }.map { name, figures in
            Key(key: name, sessions: figures.sessions, failedLogins: figures.failedLogins, grants: figures.grants,
                refusals: figures.refusals, bytesFromClient: figures.bytesFromClient, bytesToClient: figures.bytesToClient,
                topRefusedTargets: figures.refusedTargets.top(3, by: { ($0.target, $0.kind) < ($1.target, $1.kind) })
                    .map { RefusedTarget(kind: $0.item.kind, target: $0.item.target, count: $0.count) },
                refusedTargetsExact: figures.refusedTargets.isExact, lastSeen: figures.lastSeen)
        }
        unknownKeys = tally.unknownAttempts.top(.max, by: <).map { fingerprint, count in
            let details = tally.unknownKeys[fingerprint] ?? AuditTally.UnknownKey()
            return UnknownKey(fingerprint: fingerprint, failedLogins: count, lastSeen: details.lastSeen,
                              lastUser: details.lastUser, lastClient: details.lastClient)
        }
        unknownKeysExact = tally.unknownAttempts.isExact
        openSessions = tally.openSessions.values.filter(\.matched).sorted { ($0.proxy ?? "", $0.id) < ($1.proxy ?? "", $1.id) }.map { session in
            OpenSession(proxy: session.proxy, session: session.id, key: session.key, user: session.user, client: session.client,
                        started: session.started,
                        listens: session.listens.map { Listen(kind: $0.target.kind, target: $0.target.target, bound: $0.bound) })
        }
    }

    /// The summary as three readable tables.
    var text: String {
        var out: [String] = []
        out.append("Per key (\(recordsMatched) of \(recordsRead) records matched):")
        if keys.isEmpty { out.append("  no key") } else {
            out += Self.table(
                ["KEY", "SESSIONS", "FAILED LOGINS", "GRANTS", "REFUSALS", "BYTES FROM CLIENT", "BYTES TO CLIENT", "LAST SEEN",
                 "TOP REFUSED TARGETS"],
                rightAligned: 1...6,
                keys.map { key in
                    let top = key.topRefusedTargets.map { "\($0.target) (\(key.refusedTargetsExact ? "" : "~")\($0.count))" }
                    return [key.key, "\(key.sessions)", "\(key.failedLogins)", "\(key.grants)", "\(key.refusals)",
                            "\(key.bytesFromClient)", "\(key.bytesToClient)", AuditTable.time(key.lastSeen),
                            top.joined(separator: ", ")]
                })
        }
        out.append("")
        out.append("Failed logins of unknown keys\(unknownKeysExact ? "" : " (the \(unknownKeys.count) most frequent; counts approximate)"):")
        if unknownKeys.isEmpty { out.append("  none") } else {
            out += Self.table(["FINGERPRINT", "ATTEMPTS", "LAST SEEN", "LAST USER", "LAST CLIENT"], rightAligned: 1...1,
                              unknownKeys.map { [$0.fingerprint, "\($0.failedLogins)", AuditTable.time($0.lastSeen), $0.lastUser, $0.lastClient] })
        }
        out.append("")
        out.append("Open sessions as far as the log shows\(asOf.map { " (last record \(AuditTable.time($0)))" } ?? ""):")
        if openSessions.isEmpty { out.append("  none") } else {
            // A PROXY column once the sessions are on more than one proxy.
            let proxies = Set(openSessions.map(\.proxy)).count > 1
            var rows: [[String]] = []
            for session in openSessions {
                let listens = session.listens.map { "\($0.kind) \($0.target)" }
                let lead = proxies ? [session.proxy ?? ""] : []
                rows.append(lead + ["\(session.session)", session.key ?? "(not logged in)", session.user ?? "", session.client,
                                    AuditTable.time(session.started), listens.first ?? ""])
                rows += listens.dropFirst().map { (proxies ? [""] : []) + ["", "", "", "", "", $0] }
            }
            let titles = ["SESSION", "KEY", "USER", "CLIENT", "SINCE", "LISTENING"]
            out += Self.table(proxies ? ["PROXY"] + titles : titles, rightAligned: proxies ? 1...1 : 0...0, rows)
        }
        return out.joined(separator: "\n")
    }

    /// Columns as wide as their widest cell (all rows are in memory here: one per key or session).
    private static func table(_ titles: [String], rightAligned: ClosedRange<Int>, _ rows: [[String]]) -> [String] {
        let all = [titles] + rows.map { $0.map(TerminalText.visible) }
        let widths = titles.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            let cells = row.indices.map { column in
                let cell = row[column]
                if column == row.count - 1 { return cell }
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? padding + cell : cell + padding
            }
            var line = "  " + cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}
