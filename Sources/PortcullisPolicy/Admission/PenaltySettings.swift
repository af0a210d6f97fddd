/// OpenSSH's PerSourcePenalties (9.8): seconds of penalty a source accrues for each connection
/// that ends unauthenticated, by how it ended; once more than `min` seconds are outstanding the
/// source is refused at accept until they have run out. Repeated penalties add up to `max`.
/// OpenSSH's `crash` has no counterpart: one process serves every connection here.
public struct PenaltySettings: Sendable, Hashable {
    /// The connection failed one or more authentication attempts (OpenSSH default 5s).
    public var authFail: Int
    /// The connection ended without attempting authentication (default 1s).
    public var noAuth: Int
    /// The connection did not authenticate within login_grace_time (OpenSSH 9.8's default 20s).
    public var graceExceeded: Int
    /// The most penalty a source can have outstanding (default 10m).
    public var max: Int
    /// Penalty is enforced only once more than this is outstanding (default 15s).
    public var min: Int
    /// How many IPv4 and IPv6 sources are tracked at most (default 65536 each).
    public var maxSources4: Int
    public var maxSources6: Int
    /// What happens when the table of a family is full.
    public var overflow: Overflow
    public var overflow6: Overflow

    /// OpenSSH's `overflow` modes.
    public enum Overflow: String, Sendable, Hashable {
        /// The penalties closest to expiry are dropped to make room (the default).
        case permissive
        /// Every connection of that family is refused (exempt sources aside) until a penalty expires.
        case denyAll = "deny-all"
    }

    public init(authFail: Int = 5, noAuth: Int = 1, graceExceeded: Int = 20, max: Int = 600, min: Int = 15,
                maxSources4: Int = 65536, maxSources6: Int = 65536,
                overflow: Overflow = .permissive, overflow6: Overflow = .permissive) {
        self.authFail = authFail
        self.noAuth = noAuth
        self.graceExceeded = graceExceeded
        self.max = max
        self.min = min
        self.maxSources4 = maxSources4
        self.maxSources6 = maxSources6
        self.overflow = overflow
        self.overflow6 = overflow6
    }

    /// The keywords, as in OpenSSH's PerSourcePenalties.
    public static let keywords = ["authfail", "noauth", "grace-exceeded", "max", "min", "max-sources4",
                                  "max-sources6", "overflow", "overflow6"]

    /// Sets `keyword` to `value` (a duration like `5s`, `2m` or `0` for the penalties and max/min,
    /// a count for max-sources, `permissive`/`deny-all` for overflow); the reason when it is not valid.
    public mutating func set(_ keyword: String, _ value: String) -> PatternError? {
        switch keyword {
        case "authfail", "noauth", "grace-exceeded", "max", "min":
            guard let seconds = Self.duration(value) else {
                return PatternError("\(keyword):\(value): expected a duration like 5s, 2m, 1h, or 0")
            }
            switch keyword {
            case "authfail": authFail = seconds
            case "noauth": noAuth = seconds
            case "grace-exceeded": graceExceeded = seconds
            case "max": max = seconds
            default: min = seconds
            }
        case "max-sources4", "max-sources6":
            guard !value.isEmpty, value.count <= 7, value.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let count = Int(value), count > 0 else {
                return PatternError("\(keyword):\(value): expected a positive whole number")
            }
            if keyword == "max-sources4" { maxSources4 = count } else { maxSources6 = count }
        case "overflow", "overflow6":
            guard let mode = Overflow(rawValue: value) else {
                return PatternError("\(keyword):\(value): expected permissive or deny-all")
            }
            if keyword == "overflow" { overflow = mode } else { overflow6 = mode }
        default:
            let hint = FieldSuggestion.closest(to: keyword, among: Self.keywords).map { " (did you mean \($0)?)" } ?? ""
            return PatternError("unknown penalty \"\(keyword)\"\(hint); expected one of \(Self.keywords.joined(separator: ", "))")
        }
        return nil
    }

    /// Whether max is below min (penalties would never be enforced).
    public var problem: String? {
        max < min ? "max (\(max)s) is less than min (\(min)s): no penalty would ever be enforced" : nil
    }

    /// `30s`, `2m`, `1h`, a bare number of seconds, or 0; at most 7 digits.
    static func duration(_ text: String) -> Int? {
        if text == "0" { return 0 }
        return ConfigScalars.duration(text)
    }
}
