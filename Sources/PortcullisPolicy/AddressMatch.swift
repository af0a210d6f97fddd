/// One `from` entry: an address, a CIDR block, or a `*`/`?` glob over the address text, optionally
/// negated with a leading `!`. Host names are not accepted: nothing here resolves names.
public struct AddressPattern: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case network(IPNetwork)
        case glob(Glob)
    }

    /// The entry as written.
    public let text: String
    /// Whether a match refuses (`!pattern`).
    public let negated: Bool
    let kind: Kind

    public init(_ text: String) throws(PatternError) {
        self.text = text
        negated = text.hasPrefix("!")
        let body = negated ? String(text.dropFirst()) : text
        if body.isEmpty { throw PatternError("empty address pattern") }
        if body.utf8.contains(UInt8(ascii: "*")) || body.utf8.contains(UInt8(ascii: "?")) {
            guard body.allSatisfy({ $0.isHexDigit || ".:*?".contains($0) }) else {
                throw PatternError("not an address glob (only hex digits, \".\", \":\", \"*\" and \"?\"; host names are not resolved)")
            }
            kind = .glob(try Glob(body, caseInsensitive: true))
        } else {
            switch IPNetwork.parse(body) {
            case .success(let network): kind = .network(network)
            case .failure(let error):
                if body.utf8.contains(UInt8(ascii: "/")) { throw error }
                throw PatternError("not an IP address, CIDR block or address glob (host names are not resolved)")
            }
        }
    }

    public var description: String { text }

    func matches(_ address: IPAddress) -> Bool {
        switch kind {
        case .network(let network): network.contains(address)
        case .glob(let glob): glob.matches(address.description)
        }
    }
}

/// A `from` list with OpenSSH `from=` semantics: any negated match refuses; otherwise at least one
/// positive match is needed. IPv4-mapped IPv6 clients are matched as IPv4, globs against the
/// canonical address text.
public struct AddressMatch: Sendable, Hashable, CustomStringConvertible {
    public let patterns: [AddressPattern]

    public init(_ patterns: [AddressPattern]) { self.patterns = patterns }

    /// Compiles each entry; throws the first bad one's error.
    public init(_ texts: [String]) throws(PatternError) {
        var patterns: [AddressPattern] = []
        for text in texts { patterns.append(try AddressPattern(text)) }
        self.patterns = patterns
    }

    public enum Outcome: Sendable, Hashable {
        /// Allowed by this positive pattern.
        case matched(AddressPattern)
        /// Refused by this negated pattern.
        case excluded(AddressPattern)
        /// No positive pattern matched (or the address is not an IP address).
        case unmatched
    }

    /// How `clientAddress` (IP text; brackets and an IPv6 `%zone` are tolerated) fares.
    public func evaluate(_ clientAddress: String) -> Outcome {
        guard let address = IPAddress(clientAddress, lenient: true) else { return .unmatched }
        var granted: AddressPattern?
        for pattern in patterns where pattern.matches(address) {
            if pattern.negated { return .excluded(pattern) }
            if granted == nil { granted = pattern }
        }
        return granted.map(Outcome.matched) ?? .unmatched
    }

    public var description: String { patterns.map(\.text).joined(separator: ",") }
}
