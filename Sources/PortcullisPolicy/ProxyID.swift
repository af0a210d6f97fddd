#if canImport(Glibc)
import Glibc
#endif

/// The name a proxy goes by in the cluster (`proxy_id`): on every audit record, in claims, in the
/// member list. 1 to 253 ASCII letters, digits, `.`, `_` or `-`, starting with a letter or digit,
/// so that it is safe in an etcd key, a log line and a file name.
public enum ProxyID {
    /// Why `text` is not a valid proxy id; nil if it is.
    public static func problem(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 253 else { return "expected 1 to 253 characters" }
        guard let first = text.utf8.first, isAlphanumeric(first) else { return "must start with a letter or digit" }
        guard text.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
                                     || $0 == UInt8(ascii: "-") }) else {
            return "only letters, digits, '.', '_' and '-' are allowed"
        }
        return nil
    }

    /// This machine's host name (gethostname), the default proxy id.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
