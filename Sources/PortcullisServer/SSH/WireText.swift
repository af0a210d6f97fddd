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

    /// A field that is not text: its bytes escaped, and why the request is malformed.
    struct NotText: Error, Equatable {
        let escaped: String
        /// `malformed NAME: FIELD is not valid UTF-8: "ESCAPED"`.
        let reason: String
    }

    /// `field` (named `fieldName`) of request `request`, as text, or why it is not.
    static func decode(_ field: UnsafePointer<CChar>?, named fieldName: String,
                       of request: String) -> Result<String, NotText> {
        let raw = bytes(field)
        if let text = utf8(raw) { return .success(text) }
        let escaped = escapedBytes(raw)
        return .failure(NotText(escaped: escaped,
                                reason: "malformed \(request): \(fieldName) is not valid UTF-8: \"\(escaped)\""))
    }
}
