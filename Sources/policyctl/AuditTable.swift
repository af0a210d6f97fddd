import PortcullisAudit

/// The table `policyctl audit` prints. Column widths are fixed (the longest kind, the usual
/// lengths of the rest), so rows stream out as they are read with nothing buffered to measure
/// them; a longer value pushes the rest of its row right. Target and detail come last and are
/// never cut, so a reason is always whole. Control characters are shown escaped (``TerminalText``).
/// The logs of several proxies get a PROXY column after the time.
enum AuditTable {
    private struct Column {
        let title: String
        let width: Int
        var rightAligned = false
    }

    private static let columns = [
        Column(title: "TIME (UTC)", width: 19), Column(title: "SESSION", width: 7, rightAligned: true),
        Column(title: "EVENT", width: 15), Column(title: "KEY", width: 12), Column(title: "DECISION", width: 8),
        Column(title: "KIND", width: 18),
    ]

    private static let proxyColumn = Column(title: "PROXY", width: 10)

    /// The header; `proxies`: with the PROXY column.
    static func header(proxies: Bool = false) -> String {
        line(columns.map(\.title), tail: ["TARGET", "DETAIL"], proxies: proxies ? proxyColumn.title : nil)
    }

    static var header: String { header() }

    /// One record's row; `identity` supplies the key of records that do not name it themselves.
    /// `proxies`: with the PROXY column.
    static func row(_ record: AuditRecord, identity: [String: String], proxies: Bool = false) -> String {
        let key = record[field: AuditField.key]?.stringValue ?? identity[AuditField.key]
        let who = key ?? (record.event == AuditEvent.auth ? "(unknown)" : "")
        let cells = [
            time(record.ts), record.session.map(String.init) ?? "", record.event, who,
            record[field: AuditField.decision]?.stringValue ?? "", record[field: AuditField.kind]?.stringValue ?? "",
        ]
        return line(cells, tail: [record[field: AuditField.target]?.stringValue ?? "", AuditDetail.text(of: record)],
                    proxies: proxies ? record.proxy ?? "" : nil)
    }

    /// `2026-11-25T22:30:01.123456Z` as `2026-11-25 22:30:01`; anything else as it is.
    static func time(_ ts: String) -> String {
        guard AuditTimestamp.date(from: ts) != nil else { return ts }
        return String(ts.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    private static func line(_ cells: [String], tail: [String], proxies proxy: String?) -> String {
        var out = ""
        var columns = columns, cells = cells
        if let proxy {
            columns.insert(proxyColumn, at: 1)
            cells.insert(proxy, at: 1)
        }
        for (column, cell) in zip(columns, cells.map(TerminalText.visible)) {
            let padding = String(repeating: " ", count: max(0, column.width - cell.count))
            out += (column.rightAligned ? padding + cell : cell + padding) + "  "
        }
        out += tail.filter { !$0.isEmpty }.map(TerminalText.visible).joined(separator: "  ")
        while out.last == " " { out.removeLast() }
        return out
    }
}
