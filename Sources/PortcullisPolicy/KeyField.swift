import Foundation

/// One field of a key entry, everything about it in one place: its YAML name, its `add-key`
/// option and help, how a value is checked and stored in a `KeyEntry`, and how `show-key` shows
/// it. `KeyField.all` is the table; the loader, `KeySpec` (validation and the YAML policyctl
/// writes), `add-key` and `show-key`/`list-keys` all go through it, so a new field is one row.
/// `name` and `key` are not rows: every entry must have them and they identify it.
public struct KeyField: Sendable {
    /// The YAML field name, `permit_listen`.
    public let name: String
    /// A list of values (`permit_open: [a, b]`, `--permit-open` repeatable) or one value.
    public let isList: Bool
    /// `add-key`'s help for the option.
    public let help: String
    /// `add-key`'s placeholder for the value, `SPEC`.
    public let valueName: String
    /// A list that takes the word `none` alone as an explicit "nothing".
    public let allowsNone: Bool
    /// How `add-key` turns what was typed into what is written (`--expires 30d` becomes an RFC
    /// 3339 time); nil: written as typed.
    public let typed: (@Sendable (String, Date) throws(PatternError) -> String)?
    /// Checks the values (one for a scalar) and stores them in the entry; returns every problem.
    let read: @Sendable ([Item], KeyField.Context, inout KeyEntry) -> [Problem]
    /// The field of an entry as `show-key` prints it and as JSON.
    public let view: @Sendable (KeyEntry, KeyField.Context) -> View

    /// `--permit-listen`.
    public var option: String { "--" + name.replacingOccurrences(of: "_", with: "-") }

    /// One value as written, and where.
    struct Item {
        var text: String
        var location: SourceLocation
    }

    /// What is wrong with a field: with its value number `index`, or (nil) with the field as a whole.
    struct Problem {
        var index: Int?
        var message: String
    }

    /// What checking and showing a field may depend on.
    public struct Context: Sendable {
        /// The configured `socket_root`, when known: listen patterns outside it can never match.
        public var socketRoot: String?
        /// The per-key defaults of `limits:`, for showing a limit a key leaves unset.
        public var defaults: KeyLimits
        /// For showing whether the key has expired.
        public var now: Date

        public init(socketRoot: String? = nil, defaults: KeyLimits = .standard, now: Date = Date()) {
            self.socketRoot = socketRoot
            self.defaults = defaults
            self.now = now
        }
    }

    /// A field as shown: `show-key`'s lines and the JSON members (none when the field is unset and
    /// has nothing to say, as for an absent `user`).
    public struct View: Sendable {
        public var lines: [String]
        public var json: [OutputJSON.Member]

        public init(lines: [String], json: [OutputJSON.Member]) {
            self.lines = lines
            self.json = json
        }
    }

    /// The row named `name`.
    public static func named(_ name: String) -> KeyField? { all.first { $0.name == name } }

    /// The row option closest to a misspelt `--option`, if close enough to suggest.
    public static func closest(toOption option: String) -> String? {
        FieldSuggestion.closest(to: option, among: all.map(\.option))
    }

    /// Every row's YAML name, in table order.
    public static var names: [String] { all.map(\.name) }
}

extension KeyField {
    /// A one-value field: `parse` checks the text (its error is the reason, after `name "text": `)
    /// and `store` puts the result in the entry.
    static func scalar<T>(
        _ name: String, help: String, valueName: String,
        typed: (@Sendable (String, Date) throws(PatternError) -> String)? = nil,
        parse: @escaping @Sendable (String, Context) throws(PatternError) -> T,
        store: @escaping @Sendable (inout KeyEntry, T) -> Void,
        view: @escaping @Sendable (KeyEntry, Context) -> View
    ) -> KeyField {
        KeyField(name: name, isList: false, help: help, valueName: valueName, allowsNone: false, typed: typed, read: { items, context, entry in
            guard let item = items.first else { return [] }
            do throws(PatternError) {
                store(&entry, try parse(item.text, context))
                return []
            } catch {
                return [Problem(index: 0, message: error.message)]
            }
        }, view: view)
    }

    /// A list field: `parse` checks each item, `whole` the list as a whole (after every item
    /// passed), `store` puts the results in the entry. With `none` allowed, a list of the one word
    /// `none` is an explicit "nothing", recorded in `KeyEntry.explicitNone`; `none` among other
    /// items is refused.
    static func list<T>(
        _ name: String, help: String, valueName: String, allowsNone: Bool = false,
        parse: @escaping @Sendable (String, SourceLocation, Context) throws(PatternError) -> T,
        whole: (@Sendable ([T]) throws(PatternError) -> Void)? = nil,
        store: @escaping @Sendable (inout KeyEntry, [T]) -> Void,
        view: @escaping @Sendable (KeyEntry, Context) -> View
    ) -> KeyField {
        KeyField(name: name, isList: true, help: help, valueName: valueName, allowsNone: allowsNone, typed: nil, read: { items, context, entry in
            if allowsNone, let index = items.firstIndex(where: { $0.text == "none" }) {
                guard items.count == 1 else {
                    return [Problem(index: index, message: "none means no rule at all, so it must be the only entry")]
                }
                entry.explicitNone[name] = items[index].location
                store(&entry, [])
                return []
            }
            var problems: [Problem] = []
            var values: [T] = []
            for (index, item) in items.enumerated() {
                do throws(PatternError) { values.append(try parse(item.text, item.location, context)) } catch {
                    problems.append(Problem(index: index, message: error.message))
                }
            }
            if problems.isEmpty, let whole {
                do throws(PatternError) { try whole(values) } catch { problems.append(Problem(index: nil, message: error.message)) }
            }
            store(&entry, values)
            return problems
        }, view: view)
    }
}

extension KeyEntry {
    /// An entry with no name and no key, for checking fields on their own.
    static var scratch: KeyEntry {
        KeyEntry(name: "", key: PublicKey(algorithm: "", base64: "", fingerprint: ""), location: SourceLocation(file: "-", line: 1))
    }
}
