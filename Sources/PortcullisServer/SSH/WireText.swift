import Foundation
import PortcullisPolicy

/// Text fields of a client's request, as it sent them: decoded strictly, and escaped when they are
/// to be named but are not text.
enum WireText {
    /// The bytes of a NUL-terminated field from libssh (which refuses fields containing a NUL), or
    /// none for an absent field.
    static func bytes(_ field: UnsafePointer<CChar>?) -> [UInt8] {
        guard let field else { return [] }
        return Array(UnsafeRawBufferPointer(start: field, count: strlen(field)))
    }

    /// `bytes` as UTF-8 text, or nil when they are not valid UTF-8: never repaired (no U+FFFD).
    static func utf8(_ bytes: [UInt8]) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    /// The most bytes a host name may have (RFC 1035: 255; no resolver takes more).
    static let hostLimit = 255
    /// The most bytes a socket path may have (PATH_MAX less its NUL).
    static let pathLimit = Int(PATH_MAX) - 1

    /// A field that cannot be used: not text, or longer than its kind allows. `escaped` names it
    /// for a record (capped, see ``ClientText``), `reason` says why the request is malformed.
    struct BadField: Error, Equatable {
        let escaped: String
        /// `malformed NAME: FIELD is not valid UTF-8: "ESCAPED"`, or `... is longer than N bytes`.
        let reason: String
    }

    /// `field` (named `fieldName`, at most `limit` bytes) of request `request`, as text, or why it
    /// cannot be used.
    static func decode(_ field: UnsafePointer<CChar>?, named fieldName: String, of request: String,
                       limit: Int) -> Result<String, BadField> {
        let raw = bytes(field)
        guard raw.count <= limit else {
            return .failure(BadField(escaped: ClientText.capped(bytes: raw),
                                     reason: "malformed \(request): \(fieldName) is longer than \(limit) bytes (\(raw.count))"))
        }
        if let text = utf8(raw) { return .success(text) }
        let escaped = escapedBytes(raw)
        return .failure(BadField(escaped: escaped,
                                 reason: "malformed \(request): \(fieldName) is not valid UTF-8: \"\(escaped)\""))
    }
}
