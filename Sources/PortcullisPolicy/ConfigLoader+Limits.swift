import Yams

extension ConfigLoader {
    /// The fields of `limits`.
    static let limitFields = [
        "login_grace_time", "max_auth_tries", "resolve_timeout", "max_startups", "per_source_max_startups",
        "per_source_net_block_size", "per_source_penalties", "per_source_penalty_exempt_list",
        "client_alive_interval", "client_alive_count_max",
        "max_sessions", "max_listens", "max_channels", "idle_timeout",
    ]

    /// Reads the `limits` mapping into `limits`, reporting every bad value with its line.
    static func readLimits(_ node: Node, into limits: inout Limits, reader: inout NodeReader) {
        guard let fields = reader.fields(of: node, known: limitFields, what: "limits") else { return }
        func scalar(_ name: String) -> (String, Node)? {
            guard let entry = fields[name]?.value, !NodeReader.isNull(entry),
                  let text = reader.string(entry, field: "limits.\(name)") else { return nil }
            return (text, entry)
        }
        if let (text, entry) = scalar("login_grace_time") {
            if let seconds = ConfigScalars.duration(text) { limits.loginGraceTime = seconds } else {
                reader.report(entry, "limits.login_grace_time \(NodeReader.quoted(text)): expected a duration like 30s, 2m, 1h or a number of seconds")
            }
        }
        if let (text, entry) = scalar("resolve_timeout") {
            if let seconds = ConfigScalars.duration(text), seconds > 0 { limits.resolveTimeout = seconds } else {
                reader.report(entry, "limits.resolve_timeout \(NodeReader.quoted(text)): expected a duration of at least 1s, like 5s or 1m")
            }
        }
        if let (text, entry) = scalar("max_auth_tries") {
            if let count = ConfigScalars.positiveInteger(text) { limits.maxAuthTries = count } else {
                reader.report(entry, "limits.max_auth_tries \(NodeReader.quoted(text)): expected a positive whole number")
            }
        }
        if let (text, entry) = scalar("client_alive_interval") {
            if text == "0" || text == "off" {
                limits.clientAliveInterval = 0
            } else if let seconds = ConfigScalars.duration(text) {
                limits.clientAliveInterval = seconds
            } else {
                reader.report(entry, "limits.client_alive_interval \(NodeReader.quoted(text)): expected a duration like 15s or 1m, or 0 (never ask)")
            }
        }
        if let (text, entry) = scalar("client_alive_count_max") {
            if let count = ConfigScalars.positiveInteger(text) { limits.clientAliveCountMax = count } else {
                reader.report(entry, "limits.client_alive_count_max \(NodeReader.quoted(text)): expected a positive whole number")
            }
        }
        // The per-key defaults, in the forms a key entry takes (`unlimited` / `off`: nil, no limit).
        let keyDefaults: [(String, WritableKeyPath<KeyLimits, Int?>, (String) throws(PatternError) -> Int?)] = [
            ("max_sessions", \.maxSessions, { text throws(PatternError) in try KeyLimits.count(text, minimum: 1) }),
            ("max_listens", \.maxListens, { text throws(PatternError) in try KeyLimits.count(text, minimum: 0) }),
            ("max_channels", \.maxChannels, { text throws(PatternError) in try KeyLimits.count(text, minimum: 0) }),
            ("idle_timeout", \.idleTimeout, { text throws(PatternError) in try KeyLimits.idle(text) }),
        ]
        for (name, path, parse) in keyDefaults {
            guard let (text, entry) = scalar(name) else { continue }
            do throws(PatternError) { limits.keyDefaults[keyPath: path] = try parse(text) } catch {
                reader.report(entry, "limits.\(name) \(NodeReader.quoted(text)): \(error.message)")
            }
        }
        if let (text, entry) = scalar("max_startups") {
            switch MaxStartups.parse(text) {
            case .success(let value): limits.maxStartups = value
            case .failure(let error): reader.report(entry, "limits.max_startups \(NodeReader.quoted(text)): \(error)")
            }
        }
        if let (text, entry) = scalar("per_source_max_startups") {
            if text == "none" {
                limits.perSourceMaxStartups = nil
            } else if let count = ConfigScalars.positiveInteger(text) {
                limits.perSourceMaxStartups = count
            } else {
                reader.report(entry, "limits.per_source_max_startups \(NodeReader.quoted(text)): expected a positive whole number or \"none\"")
            }
        }
        if let (text, entry) = scalar("per_source_net_block_size") {
            switch NetBlockSize.parse(text) {
            case .success(let value): limits.perSourceNetBlockSize = value
            case .failure(let error): reader.report(entry, "limits.per_source_net_block_size \(NodeReader.quoted(text)): \(error)")
            }
        }
        if let entry = fields["per_source_penalties"]?.value, !NodeReader.isNull(entry) {
            readPenalties(entry, into: &limits, reader: &reader)
        }
        if let entry = fields["per_source_penalty_exempt_list"]?.value {
            limits.perSourcePenaltyExemptList = reader.list(entry, field: "limits.per_source_penalty_exempt_list") {
                text, _ throws(PatternError) in
                switch IPNetwork.parse(text) {
                case .success(let network): return network
                case .failure(let error): throw PatternError("expected an address or CIDR block: \(error)")
                }
            }
        }
    }

    /// `per_source_penalties`: `no`/`off`/`false` (off), `yes`/`on`/`true` (OpenSSH's defaults),
    /// OpenSSH's keyword form `"authfail:5s noauth:1s max:10m"`, or a mapping of the same keywords.
    private static func readPenalties(_ node: Node, into limits: inout Limits, reader: inout NodeReader) {
        let field = "limits.per_source_penalties"
        var settings = PenaltySettings()
        var pairs: [(keyword: String, value: String, node: Node)] = []
        switch node {
        case .scalar(let scalar):
            let text = scalar.string
            switch text {
            case "no", "off", "false", "No", "Off", "False", "NO", "OFF", "FALSE":
                limits.perSourcePenalties = nil
                return
            case "yes", "on", "true", "Yes", "On", "True", "YES", "ON", "TRUE":
                limits.perSourcePenalties = settings
                return
            default:
                for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                    let parts = word.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else {
                        reader.report(node, "\(field) \(NodeReader.quoted(text)): \"\(word)\" is not keyword:value; expected no, yes, or keywords like \"authfail:5s noauth:1s max:10m\"")
                        return
                    }
                    pairs.append((String(parts[0]), String(parts[1]), node))
                }
                if pairs.isEmpty {
                    reader.report(node, "\(field) \(NodeReader.quoted(text)): expected no, yes, or keywords like \"authfail:5s noauth:1s max:10m\"")
                    return
                }
            }
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar(let name) = key, case .scalar(let text) = value else {
                    reader.report(key, "\(field): expected keyword: value pairs, like authfail: 5s")
                    continue
                }
                pairs.append((name.string, text.string, key))
            }
        default:
            reader.report(node, "\(field): expected no, yes, a string of keywords or a mapping of them")
            return
        }
        var valid = true
        var seen: Set<String> = []
        for pair in pairs {
            guard seen.insert(pair.keyword).inserted else {
                reader.report(pair.node, "\(field): \(pair.keyword) given twice")
                valid = false
                continue
            }
            if let error = settings.set(pair.keyword, pair.value) {
                reader.report(pair.node, "\(field): \(error)")
                valid = false
            }
        }
        if valid, let problem = settings.problem {
            reader.report(node, "\(field): \(problem)")
            valid = false
        }
        if valid { limits.perSourcePenalties = settings }
    }
}
