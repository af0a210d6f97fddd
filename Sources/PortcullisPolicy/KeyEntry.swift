import Foundation

/// One authorised key and everything it may do.
public struct KeyEntry: Sendable, Hashable {
    /// Unique name, `[A-Za-z0-9._-]+`; `%k` in path rules.
    public var name: String
    public var key: PublicKey
    /// The key line's comment, if any.
    public var comment: String?
    /// The only SSH user name this key may log in as; nil: any.
    public var user: String?
    /// Client addresses the key may log in from; nil: anywhere.
    public var from: AddressMatch?
    /// The key is refused at and after this instant.
    public var expires: Date?
    public var permitListen: [ListenRule]
    public var permitOpen: [OpenRule]
    public var permitStreamLocalListen: [PathRule]
    public var permitStreamLocalOpen: [PathRule]
    /// Names the key may publish (`ssh -R NAME:port:...`), and names it may reach (`ssh -J proxy NAME`).
    public var permitNamePublish: [NameRule] = []
    public var permitNameOpen: [NameRule] = []
    /// This key's own limits; unset values fall back to `limits:` (see `Policy.limits(for:)`);
    /// `KeyLimits.unlimited` where the entry says `unlimited` or `off`.
    public var limits = KeyLimits()
    /// The permit lists written as the explicit `none` (by YAML field name), and where: they hold
    /// no rules, like an omitted list, but show-key says where "nothing" was written.
    public var explicitNone: [String: SourceLocation] = [:]
    /// Where the entry starts.
    public var location: SourceLocation

    public init(
        name: String, key: PublicKey, comment: String? = nil, user: String? = nil, from: AddressMatch? = nil,
        expires: Date? = nil, permitListen: [ListenRule] = [], permitOpen: [OpenRule] = [],
        permitStreamLocalListen: [PathRule] = [], permitStreamLocalOpen: [PathRule] = [],
        location: SourceLocation
    ) {
        self.name = name
        self.key = key
        self.comment = comment
        self.user = user
        self.from = from
        self.expires = expires
        self.permitListen = permitListen
        self.permitOpen = permitOpen
        self.permitStreamLocalListen = permitStreamLocalListen
        self.permitStreamLocalOpen = permitStreamLocalOpen
        self.location = location
    }

    /// Whether `name` is acceptable as a key name: `[A-Za-z0-9._-]+`, and not `.` or `..`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
    }
}
