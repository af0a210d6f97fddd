import Foundation

/// OpenSSH authorized_keys files, read and translated into key entries (`policyctl
/// import-authorized-keys`). A line is translated faithfully or not at all.
public enum AuthorizedKeys {
    /// One line split into its options (names lowercased, values unquoted) and its key line.
    public struct Line: Sendable, Hashable {
        public struct Option: Sendable, Hashable {
            /// Lowercased, as sshd compares them.
            public var name: String
            /// Unquoted; nil for a flag.
            public var value: String?
        }

        public var options: [Option]
        /// `algorithm base64 [comment]`.
        public var key: String
    }

    /// A translated line.
    public struct Imported: Sendable, Hashable {
        public var line: Int
        public var spec: KeySpec
        /// Options with no meaning here, as written (`command`, `no-pty`, ...), skipped.
        public var skipped: [String]
        /// How an implicit OpenSSH default was carried over.
        public var notes: [String]
    }

    /// A line that was not imported, and why.
    public struct Refused: Sendable, Hashable, Codable {
        public var line: Int
        public var reason: String

        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    public struct Report: Sendable, Hashable {
        public var imported: [Imported] = []
        public var refused: [Refused] = []
    }

    /// Options that grant nothing here (no shell, no agent, no X11, no tunnel device): skipped.
    static let meaningless: Set<String> = [
        "command", "no-pty", "pty", "no-agent-forwarding", "agent-forwarding", "no-x11-forwarding",
        "x11-forwarding", "no-user-rc", "user-rc", "environment", "tunnel", "no-touch-required",
    ]

    /// Splits a line into options and key. Throws for unbalanced quotes or a missing key.
    public static func parse(_ text: String) throws(PatternError) -> Line {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let first = trimmed.prefix { $0 != " " && $0 != "\t" }
        if KeyBlob.algorithms.contains(String(first)) { return Line(options: [], key: trimmed) }
        var options: [Line.Option] = []
        var name = "", value: String?, inQuotes = false
        var index = trimmed.startIndex
        func finish() throws(PatternError) {
            guard !name.isEmpty else { throw PatternError("empty option") }
            options.append(Line.Option(name: name.lowercased(), value: value))
            name = ""; value = nil
        }
        while index < trimmed.endIndex {
            let c = trimmed[index]
            if inQuotes {
                if c == "\\", trimmed.index(after: index) < trimmed.endIndex, trimmed[trimmed.index(after: index)] == "\"" {
                    value! += "\""; index = trimmed.index(index, offsetBy: 2); continue
                }
                if c == "\"" { inQuotes = false } else { value! += String(c) }
            } else if c == " " || c == "\t" {
                break
            } else if c == "," {
                try finish()
            } else if c == "=", value == nil {
                let next = trimmed.index(after: index)
                guard next < trimmed.endIndex, trimmed[next] == "\"" else { throw PatternError("option \"\(name)\": expected =\"value\"") }
                value = ""; inQuotes = true; index = next
            } else if value != nil {
                throw PatternError("option \"\(name)\": unexpected text after the closing quote")
            } else {
                name += String(c)
            }
            index = trimmed.index(after: index)
        }
        if inQuotes { throw PatternError("option \"\(name)\": missing closing quote") }
        try finish()
        let key = trimmed[index...].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else { throw PatternError("no key after the options") }
        return Line(options: options, key: key)
    }

    /// Translates one line into a key spec (with an empty name), or says why it cannot be.
    /// `expiry-time` without `Z` is read in `timeZone`, as sshd reads it in local time.
    public static func translate(_ text: String, socketRoot: String?, timeZone: TimeZone = .current)
        throws(PatternError) -> (spec: KeySpec, comment: String?, skipped: [String], notes: [String]) {
        let line = try parse(text)
        let comment: String?
        do { comment = try PublicKey.parse(line: line.key).comment } catch { throw PatternError("key: \(error.message)") }
        var spec = KeySpec(name: "", key: line.key)
        var forwarding = true
        var listens: [String]?, opens: [String]?, socketOpens: [String] = []
        var skipped: [String] = [], notes: [String] = []
        var seenFrom = false, seenExpiry = false
        for option in line.options {
            let name = option.name, value = option.value
            func required() throws(PatternError) -> String {
                guard let value else { throw PatternError("option \(name) needs a value") }
                return value
            }
            switch name {
            case "restrict": forwarding = false
            case "no-port-forwarding": forwarding = false
            case "port-forwarding": forwarding = true
            case "from":
                guard !seenFrom else { throw PatternError("from= given twice") }
                seenFrom = true
                spec["from"] = try required().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            case "expiry-time":
                guard !seenExpiry else { throw PatternError("expiry-time= given twice") }
                seenExpiry = true
                let text = try required()
                guard let date = Expiry.openSSH(text, timeZone: timeZone) else {
                    throw PatternError("expiry-time \"\(text)\": expected YYYYMMDD[HHMM[SS]][Z]")
                }
                spec["expires"] = [Expiry.text(date)]
            case "permitlisten":
                listens = (listens ?? []) + [try required()]
            case "permitopen":
                let target = try required()
                opens = opens ?? []
                if target.hasPrefix("[/") {
                    guard target.hasSuffix("]:*") else {
                        throw PatternError("permitopen \"\(target)\": a socket path must be written [/path]:*")
                    }
                    let path = String(target.dropFirst().dropLast(3))
                    guard !path.contains(where: { "*?%".contains($0) }) else {
                        throw PatternError("permitopen \"\(target)\": *, ? and % would become patterns here")
                    }
                    socketOpens.append(path)
                } else {
                    opens!.append(target)
                }
            case _ where meaningless.contains(name):
                skipped.append(name)
            default:
                throw PatternError("option \"\(name)\" cannot be translated")
            }
        }
        if forwarding {
            if let listens {
                if listens.contains("none"), listens.count > 1 {
                    throw PatternError("permitlisten=\"none\" together with other permitlisten options")
                }
                spec["permit_listen"] = listens
            } else {
                spec["permit_listen"] = ["*"]
                notes.append("no permitlisten: OpenSSH allows any TCP listen, imported as permit_listen \"*\"")
            }
            if let opens {
                if opens.contains("none"), opens.count + socketOpens.count > 1 {
                    throw PatternError("permitopen=\"none\" together with other permitopen options")
                }
                spec["permit_open"] = opens
                spec["permit_streamlocal_open"] = socketOpens
            } else {
                spec["permit_open"] = ["*:*"]
                notes.append("no permitopen: OpenSSH allows any TCP open, imported as permit_open \"*:*\"")
            }
        } else {
            notes.append("port forwarding is off (restrict or no-port-forwarding): imported with no rules")
        }
        spec.name = "x"
        try spec.validate(socketRoot: socketRoot)
        spec.name = ""
        return (spec, comment, skipped, notes)
    }

    /// Translates a whole file. Comments and blank lines are ignored; a key already present
    /// (`existing`: canonical base64 of each configured key to its name) or repeated in the file is
    /// refused; names come from the key comment (`key-LINE` without one), after `namePrefix`, made
    /// unique against `takenNames` and each other.
    public static func translate(
        file text: String, namePrefix: String = "", takenNames: Set<String>, existing: [String: String],
        socketRoot: String?, timeZone: TimeZone = .current
    ) -> Report {
        var report = Report()
        var taken = takenNames
        var seen: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let content = raw.trimmingCharacters(in: .whitespaces)
            if content.isEmpty || content.hasPrefix("#") { continue }
            do throws(PatternError) {
                var (spec, comment, skipped, notes) = try translate(content, socketRoot: socketRoot, timeZone: timeZone)
                let blob = try PublicKey(line: AuthorizedKeys.parse(content).key).canonicalBase64 ?? ""
                if let name = existing[blob] { throw PatternError("the key is already configured as \"\(name)\"") }
                if let first = seen[blob] { throw PatternError("the same key as line \(first)") }
                seen[blob] = number
                let base = KeySpec.name(from: namePrefix + (comment.flatMap(KeySpec.name(from:)) ?? "key-\(number)"))
                    ?? "key-\(number)"
                spec.name = KeySpec.unique(base, taken: taken)
                taken.insert(spec.name)
                report.imported.append(Imported(line: number, spec: spec, skipped: skipped, notes: notes))
            } catch {
                report.refused.append(Refused(line: number, reason: error.message))
            }
        }
        return report
    }
}
