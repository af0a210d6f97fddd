import Foundation

/// A key entry as text, the way a tool collects it before writing a keys_dir file: the fields of a
/// `keys` entry, unparsed.
public struct KeySpec: Sendable, Hashable, Codable {
    public var name: String
    /// One OpenSSH public key line, `algorithm base64 [comment]`.
    public var key: String
    public var user: String?
    public var from: [String]
    /// RFC 3339.
    public var expires: String?
    public var permitListen: [String]
    public var permitOpen: [String]
    public var permitStreamLocalListen: [String]
    public var permitStreamLocalOpen: [String]

    public init(
        name: String, key: String, user: String? = nil, from: [String] = [], expires: String? = nil,
        permitListen: [String] = [], permitOpen: [String] = [], permitStreamLocalListen: [String] = [],
        permitStreamLocalOpen: [String] = []
    ) {
        self.name = name
        self.key = key
        self.user = user
        self.from = from
        self.expires = expires
        self.permitListen = permitListen
        self.permitOpen = permitOpen
        self.permitStreamLocalListen = permitStreamLocalListen
        self.permitStreamLocalOpen = permitStreamLocalOpen
    }

    /// The keys_dir file name, `NAME.yaml`.
    public var fileName: String { name + ".yaml" }

    /// Checks every field with the parsers the loader uses, naming the first bad one as an
    /// administrator typed it (`--permit-open "x": expected host:port`), and returns the parsed key.
    /// `socketRoot`, when known, refuses listen patterns that could never match.
    @discardableResult
    public func validate(socketRoot: String?) throws(PatternError) -> PublicKey {
        guard KeyEntry.isValidName(name) else {
            throw PatternError("name \(Self.quoted(name)): expected letters, digits, \".\", \"_\" or \"-\" (and not . or ..)")
        }
        let parsed: PublicKey
        do { parsed = try PublicKey.parse(line: key).key } catch { throw PatternError("key: \(error.message)") }
        if let user, user.isEmpty || user.utf8.contains(0) { throw PatternError("user \(Self.quoted(user)): expected a user name") }
        if let expires, RFC3339.date(from: expires) == nil {
            throw PatternError("expires \(Self.quoted(expires)): expected an RFC 3339 date-time")
        }
        let here = SourceLocation(file: "-", line: 1)
        func each(_ field: String, _ texts: [String], _ check: (String) throws(PatternError) -> Void) throws(PatternError) {
            for text in texts {
                do { try check(text) } catch { throw PatternError("\(field) \(Self.quoted(text)): \(error.message)") }
            }
        }
        try each("from", from) { text throws(PatternError) in _ = try AddressPattern(text) }
        try each("permit_listen", permitListen) { text throws(PatternError) in _ = try ListenRule(text, location: here) }
        try each("permit_open", permitOpen) { text throws(PatternError) in _ = try OpenRule(text, location: here) }
        try each("permit_streamlocal_listen", permitStreamLocalListen) { text throws(PatternError) in
            let rule = try PathRule(text, location: here)
            if let socketRoot, !rule.pattern.canMatch(under: socketRoot) {
                throw PatternError("lies outside socket_root \(socketRoot), so it can never match")
            }
        }
        try each("permit_streamlocal_open", permitStreamLocalOpen) { text throws(PatternError) in _ = try PathRule(text, location: here) }
        return parsed
    }

    /// The keys_dir file: an optional comment header, then one field per line and one rule per
    /// line, every string double-quoted.
    public func yaml(header: String? = nil) -> String {
        var lines = header.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 } } ?? []
        lines.append("name: \(Self.quoted(name))")
        lines.append("key: \(Self.quoted(key))")
        if let user { lines.append("user: \(Self.quoted(user))") }
        if let expires { lines.append("expires: \(Self.quoted(expires))") }
        for (field, values) in [("from", from), ("permit_listen", permitListen), ("permit_open", permitOpen),
                                ("permit_streamlocal_listen", permitStreamLocalListen),
                                ("permit_streamlocal_open", permitStreamLocalOpen)] where !values.isEmpty {
            lines.append("\(field):")
            lines += values.map { "  - \(Self.quoted($0))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += String(format: "\\x%02X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A valid key name made from free text (a key comment): runs of other characters become `-`,
    /// leading and trailing `-` and `.` are dropped; nil if nothing is left.
    public static func name(from text: String) -> String? {
        var name = ""
        for scalar in text.unicodeScalars {
            let ok = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
            if ok { name.unicodeScalars.append(scalar) } else if !name.hasSuffix("-") { name += "-" }
        }
        name = String(name.drop(while: { $0 == "-" || $0 == "." }))
        while let last = name.last, last == "-" || last == "." { name.removeLast() }
        return KeyEntry.isValidName(name) ? String(name.prefix(64)) : nil
    }

    /// `base` if it is not taken, else `base-2`, `base-3`, ...
    public static func unique(_ base: String, taken: Set<String>) -> String {
        guard taken.contains(base) else { return base }
        var suffix = 2
        while taken.contains("\(base)-\(suffix)") { suffix += 1 }
        return "\(base)-\(suffix)"
    }
}
