#if canImport(Glibc)
import Glibc
private typealias PasswdEntry = Glibc.passwd
private typealias GroupEntry = Glibc.group
#elseif canImport(Darwin)
import Darwin
private typealias PasswdEntry = Darwin.passwd
private typealias GroupEntry = Darwin.group
#endif

/// The account the daemon runs as once it has bound what needs root (`user:` and `group:`): the
/// user's name and id, and the group (the user's primary group unless `group:` names another).
public struct ServiceAccount: Sendable, Hashable, CustomStringConvertible {
    public var user: String
    public var uid: uid_t
    public var group: String
    public var gid: gid_t

    public init(user: String, uid: uid_t, group: String, gid: gid_t) {
        self.user = user
        self.uid = uid
        self.group = group
        self.gid = gid
    }

    /// What `lookup` did not find.
    public enum Unknown: Error, Sendable, Equatable {
        case user, group
    }

    /// `user` (and `group`, else the user's primary group) looked up in the system's user and
    /// group databases; each may be a name or a number.
    public static func lookup(user: String, group: String?) -> Result<ServiceAccount, Unknown> {
        guard let (name, uid, primary) = userEntry(user) else { return .failure(.user) }
        let groupName: String, gid: gid_t
        if let group {
            guard let (found, id) = groupEntry(group) else { return .failure(.group) }
            (groupName, gid) = (found, id)
        } else {
            (groupName, gid) = (groupEntry(String(primary))?.name ?? String(primary), primary)
        }
        return .success(ServiceAccount(user: name, uid: uid, group: groupName, gid: gid))
    }

    /// Whether `text` can be a user or group name or number: not empty, no NUL, colon, slash or
    /// white space, not starting with "-".
    public static func isPlausibleName(_ text: String) -> Bool {
        !text.isEmpty && !text.hasPrefix("-")
            && !text.unicodeScalars.contains { $0 == "\0" || $0 == ":" || $0 == "/" || $0.properties.isWhitespace }
    }

    public var description: String { "\(user) (uid \(uid), group \(group), gid \(gid))" }

    private static func userEntry(_ text: String) -> (String, uid_t, gid_t)? {
        var entry = PasswdEntry()
        var result: UnsafeMutablePointer<PasswdEntry>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let number = uid_t(text) {
            guard getpwuid_r(number, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        } else {
            guard getpwnam_r(text, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        return (String(cString: entry.pw_name), entry.pw_uid, entry.pw_gid)
    }

    private static func groupEntry(_ text: String) -> (name: String, gid: gid_t)? {
        var entry = GroupEntry()
        var result: UnsafeMutablePointer<GroupEntry>?
        var buffer = [CChar](repeating: 0, count: 65536)
        if let number = gid_t(text) {
            guard getgrgid_r(number, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        } else {
            guard getgrnam_r(text, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        return (String(cString: entry.gr_name), entry.gr_gid)
    }
}
