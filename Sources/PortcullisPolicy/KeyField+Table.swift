import Foundation

extension KeyField {
    /// The key entry's fields in the order they are checked, shown and offered by `add-key`.
    public static let all: [KeyField] = [
        scalar("user", help: "The only user name the key may log in as.", valueName: "NAME",
               parse: { text, _ throws(PatternError) in
                   guard !text.isEmpty, !text.utf8.contains(0) else { throw PatternError("expected a user name") }
                   return text
               },
               store: { $0.user = $1 },
               view: { entry, _ in
                   View(lines: [label("user") + (entry.user ?? "any")], json: entry.user.map { [.init("user", .string($0))] } ?? [])
               }),
        list("from", help: "Client address pattern (address, CIDR, glob, !negation); repeatable.", valueName: "PATTERN",
             parse: { text, _, _ throws(PatternError) in try AddressPattern(text) },
             whole: { patterns throws(PatternError) in
                 if patterns.isEmpty { throw PatternError("an empty list would refuse every client; omit it to allow any address") }
             },
             store: { $0.from = AddressMatch($1) },
             view: { entry, _ in
                 let patterns = entry.from?.patterns.map(\.text)
                 return View(lines: [label("from") + (patterns?.joined(separator: ",") ?? "any address")],
                             json: patterns.map { [.init("from", .array($0.map(OutputJSON.string)))] } ?? [])
             }),
        scalar("expires", help: "Expiry: RFC 3339, a date (2027-01-31, UTC midnight), or a duration (30d, 12h, 2w).", valueName: "TIME",
               typed: { text, now throws(PatternError) in Expiry.text(try Expiry.parse(text, now: now)) },
               parse: { text, _ throws(PatternError) in
                   guard let date = RFC3339.date(from: text) else {
                       throw PatternError("expected an RFC 3339 date-time like 2027-01-31T00:00:00Z")
                   }
                   return date
               },
               store: { $0.expires = $1 },
               view: { entry, context in
                   let expired = entry.expires.map { $0 <= context.now } ?? false
                   let text = entry.expires.map { Expiry.text($0) + (expired ? " (expired)" : "") } ?? "never"
                   return View(lines: [label("expires") + text],
                               json: (entry.expires.map { [.init("expires", .string(Expiry.text($0)))] } ?? []) + [.init("expired", .bool(expired))])
               }),
        list("permit_listen", help: "ssh -R TCP rule: port, host:port, *, ranges; repeatable; none: no listen at all.", valueName: "SPEC",
             allowsNone: true,
             parse: { text, location, _ throws(PatternError) in try ListenRule(text, location: location) },
             store: { $0.permitListen = $1 },
             view: { entry, _ in rulesView("permit_listen", entry, entry.permitListen.map { ($0.text, $0.location) }) }),
        list("permit_open", help: "ssh -L TCP rule: host:port, *:port, CIDR hosts, ranges; repeatable; none: no open at all.", valueName: "SPEC",
             allowsNone: true,
             parse: { text, location, _ throws(PatternError) in try OpenRule(text, location: location) },
             store: { $0.permitOpen = $1 },
             view: { entry, _ in rulesView("permit_open", entry, entry.permitOpen.map { ($0.text, $0.location) }) }),
        list("permit_streamlocal_listen", help: "ssh -R socket path pattern (%k, %u, *, **); repeatable; none: no socket listen.",
             valueName: "PATTERN", allowsNone: true,
             parse: { text, location, context throws(PatternError) in
                 let rule = try PathRule(text, location: location)
                 if let socketRoot = context.socketRoot, !rule.pattern.canMatch(under: socketRoot) {
                     throw PatternError("lies outside socket_root \(socketRoot), so it can never match")
                 }
                 return rule
             },
             store: { $0.permitStreamLocalListen = $1 },
             view: { entry, _ in
                 rulesView("permit_streamlocal_listen", entry, entry.permitStreamLocalListen.map { ($0.pattern.text, $0.location) })
             }),
        list("permit_streamlocal_open", help: "ssh -L socket path pattern; repeatable; none: no socket open.", valueName: "PATTERN",
             allowsNone: true,
             parse: { text, location, _ throws(PatternError) in try PathRule(text, location: location) },
             store: { $0.permitStreamLocalOpen = $1 },
             view: { entry, _ in
                 rulesView("permit_streamlocal_open", entry, entry.permitStreamLocalOpen.map { ($0.pattern.text, $0.location) })
             }),
        list("permit_name_publish", help: "ssh -R NAME:PORT:... name pattern (a-z 0-9 -, *, ?, %k); repeatable; none: no name.",
             valueName: "PATTERN", allowsNone: true,
             parse: { text, location, _ throws(PatternError) in try NameRule(text, location: location) },
             store: { $0.permitNamePublish = $1 },
             view: { entry, _ in rulesView("permit_name_publish", entry, entry.permitNamePublish.map { ($0.text, $0.location) }) }),
        list("permit_name_open", help: "ssh -J proxy NAME name pattern (a-z 0-9 -, *, ?, %k); repeatable; none: no name.",
             valueName: "PATTERN", allowsNone: true,
             parse: { text, location, _ throws(PatternError) in try NameRule(text, location: location) },
             store: { $0.permitNameOpen = $1 },
             view: { entry, _ in rulesView("permit_name_open", entry, entry.permitNameOpen.map { ($0.text, $0.location) }) }),
        limit("max_sessions", \.maxSessions, help: "Concurrent sessions of the key (at least 1), or unlimited.", valueName: "N",
              parse: { text throws(PatternError) in try KeyLimits.count(text, minimum: 1) }, text: KeyLimits.countText),
        limit("max_listens", \.maxListens, help: "Concurrent -R listens of the key (0: none), or unlimited.", valueName: "N",
              parse: { text throws(PatternError) in try KeyLimits.count(text, minimum: 0) }, text: KeyLimits.countText),
        limit("max_channels", \.maxChannels, help: "Concurrent forwarded channels of the key (0: none), or unlimited.", valueName: "N",
              parse: { text throws(PatternError) in try KeyLimits.count(text, minimum: 0) }, text: KeyLimits.countText),
        limit("idle_timeout", \.idleTimeout, help: "End a session idle this long (30s, 5m, 1h), or off.", valueName: "DURATION",
              parse: { text throws(PatternError) in try KeyLimits.idle(text) }, text: KeyLimits.durationText),
    ]

    /// `user:        ` — show-key's scalar lines line up after the longest short name.
    static func label(_ name: String) -> String {
        name.count < 12 ? (name + ":").padding(toLength: 13, withPad: " ", startingAt: 0) : name + ": "
    }

    /// A permit list as shown: each rule with where it is defined; an explicit `none` with where
    /// it is written; no rules at all as `none (refused)`.
    static func rulesView(_ name: String, _ entry: KeyEntry, _ rules: [(pattern: String, location: SourceLocation)]) -> View {
        func rule(_ pattern: String, _ location: SourceLocation) -> OutputJSON {
            .object([.init("pattern", .string(pattern)), .init("defined", .string(location.description))])
        }
        if let location = entry.explicitNone[name] {
            return View(lines: ["\(name): none  (\(location))"], json: [.init(name, .array([rule("none", location)]))])
        }
        if rules.isEmpty { return View(lines: ["\(name): none (refused)"], json: [.init(name, .array([]))]) }
        return View(lines: ["\(name):"] + rules.map { "  \($0.pattern)  (\($0.location))" },
                    json: [.init(name, .array(rules.map { rule($0.pattern, $0.location) }))])
    }

    /// A per-key limit: the key's own value (`unlimited`/`off` stored as `KeyLimits.unlimited`, so
    /// that it overrides the default), else the `limits:` default, shown as such.
    static func limit(
        _ name: String, _ path: WritableKeyPath<KeyLimits, Int?> & Sendable, help: String, valueName: String,
        parse: @escaping @Sendable (String) throws(PatternError) -> Int?, text: @escaping @Sendable (Int?) -> String
    ) -> KeyField {
        scalar(name, help: help, valueName: valueName,
               parse: { value, _ throws(PatternError) in try parse(value) ?? KeyLimits.unlimited },
               store: { $0.limits[keyPath: path] = $1 },
               view: { entry, context in
                   let own = entry.limits[keyPath: path]
                   let value = own ?? context.defaults[keyPath: path]
                   let number: OutputJSON = value.map { $0 == KeyLimits.unlimited ? .null : .int($0) } ?? .null
                   return View(lines: [label(name) + text(value) + (own == nil ? " (default)" : "")],
                               json: [.init(name, .object([.init("value", number), .init("text", .string(text(value))),
                                                           .init("default", .bool(own == nil))]))])
               })
    }
}
