import Foundation

/// A key entry as text, the way a tool collects it before writing a keys_dir file: the name, the
/// key line, and the other fields unparsed, by their `KeyField` name (a scalar holds one value).
public struct KeySpec: Sendable, Hashable, Encodable {
    public var name: String
    /// One OpenSSH public key line, `algorithm base64 [comment]`.
    public var key: String
    /// The values of each `KeyField` given, by YAML name; an empty list is the same as none.
    public var values: [String: [String]]

    public init(name: String, key: String, values: [String: [String]] = [:]) {
        self.name = name
        self.key = key
        self.values = values.filter { !$0.value.isEmpty }
    }

    /// The fields that came first, by label (tests and translators read better this way).
    public init(
        name: String, key: String, user: String? = nil, from: [String] = [], expires: String? = nil,
        permitListen: [String] = [], permitOpen: [String] = [], permitStreamLocalListen: [String] = [],
        permitStreamLocalOpen: [String] = []
    ) {
        self.init(name: name, key: key, values: [
            "user": user.map { [$0] } ?? [], "from": from, "expires": expires.map { [$0] } ?? [],
            "permit_listen": permitListen, "permit_open": permitOpen,
            "permit_streamlocal_listen": permitStreamLocalListen, "permit_streamlocal_open": permitStreamLocalOpen,
        ])
    }

    /// The values of the field named `field` (a `KeyField` name); setting [] removes it.
    public subscript(field: String) -> [String] {
        get { values[field] ?? [] }
        set {
            precondition(KeyField.named(field) != nil, "no key field \(field)")
            values[field] = newValue.isEmpty ? nil : newValue
        }
    }

    /// The keys_dir file name, `NAME.yaml`.
    public var fileName: String { name + ".yaml" }

    /// Checks every field with the parsers the loader uses, naming the first bad one as an
    /// administrator typed it (`permit_open "x": expected host:port`), and returns the parsed key.
    /// `socketRoot`, when known, refuses listen patterns that could never match.
    @discardableResult
    public func validate(socketRoot: String?) throws(PatternError) -> PublicKey {
        guard KeyEntry.isValidName(name) else {
            throw PatternError("name \(Self.quoted(name)): expected letters, digits, \".\", \"_\" or \"-\" (and not . or ..)")
        }
        let parsed: PublicKey
        do { parsed = try PublicKey.parse(line: key).key } catch { throw PatternError("key: \(error.message)") }
        if let unknown = values.keys.sorted().first(where: { KeyField.named($0) == nil }) {
            throw PatternError("\(unknown): not a key entry field")
        }
        var entry = KeyEntry.scratch
        let context = KeyField.Context(socketRoot: socketRoot)
        let here = SourceLocation(file: "-", line: 1)
        for field in KeyField.all {
            guard let texts = values[field.name], !texts.isEmpty else { continue }
            if !field.isList, texts.count > 1 { throw PatternError("\(field.name): given \(texts.count) times; it takes one value") }
            if let problem = field.read(texts.map { KeyField.Item(text: $0, location: here) }, context, &entry).first {
                throw PatternError(problem.index.map { "\(field.name) \(Self.quoted(texts[$0])): \(problem.message)" }
                                   ?? "\(field.name): \(problem.message)")
            }
        }
        return parsed
    }

    /// The keys_dir file: an optional comment header, name and key, then the one-value fields one
    /// per line, then the lists one rule per line (a list of just `none` as `field: none`); every
    /// string double-quoted, a whole number plain.
    public func yaml(header: String? = nil) -> String {
        var lines = header.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 } } ?? []
        lines.append("name: \(Self.quoted(name))")
        lines.append("key: \(Self.quoted(key))")
        for field in KeyField.all where !field.isList {
            if let value = values[field.name]?.first { lines.append("\(field.name): \(Self.scalar(value))") }
        }
        for field in KeyField.all where field.isList {
            guard let texts = values[field.name], !texts.isEmpty else { continue }
            if field.allowsNone, texts == ["none"] {
                lines.append("\(field.name): none")
                continue
            }
            lines.append("\(field.name):")
            lines += texts.map { "  - \(Self.quoted($0))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// name, key, then each field by its YAML name: a list as an array, a scalar as a string.
    public func encode(to encoder: Encoder) throws {
        var members: [OutputJSON.Member] = [.init("name", .string(name)), .init("key", .string(key))]
        for field in KeyField.all {
            guard let texts = values[field.name], !texts.isEmpty else { continue }
            members.append(.init(field.name, field.isList ? .array(texts.map(OutputJSON.string)) : .string(texts[0])))
        }
        try OutputJSON.encode(members, to: encoder)
    }

    /// A whole number plain (`max_sessions: 3`), anything else double-quoted.
    static func scalar(_ text: String) -> String {
        !text.isEmpty && text.count <= 6 && text.allSatisfy({ $0.isASCII && $0.isNumber }) ? text : quoted(text)
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
