import Foundation

/// A directory on the way to a file that someone other than root or the daemon's account could
/// change: whoever can write it can rename what is below it away and put their own in its place.
public struct InsecureDirectory: Equatable, CustomStringConvertible {
    /// The directory, as found on the way (the literal path or, past a symbolic link, the real one).
    public let directory: String
    /// Why it is not safe: its owner, or who may write it.
    public let reason: String

    public var description: String { "\(directory) \(reason)" }
}

/// The rule of sshd's StrictModes (secure_path) for every directory above a file: each must be
/// owned by root or by one of `owners` (the daemon's account, the user it runs as), and not
/// writable by its group or others unless it has the sticky bit (so /tmp, 1777 root, passes:
/// nobody may rename another's entry there).
public enum SecureAncestors {
    /// The first unsafe directory above `path` (its parent, then each one up to /), or nil.
    /// Both the path as written and, if a directory on it is a symbolic link, the real path are
    /// walked: a link is as safe as the directory holding it, its target as the target's own
    /// ancestors. Directories that do not exist yet are skipped (the daemon makes them).
    public static func problem(above path: String, owners: [uid_t]) -> InsecureDirectory? {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var crossesLink = false
        var deepestExisting: String?
        for directory in ancestors(of: absolute) {
            var info = stat()
            guard lstat(directory, &info) == 0 else { continue }
            if deepestExisting == nil { deepestExisting = directory }
            if info.st_mode & S_IFMT == S_IFLNK {
                crossesLink = true
                continue
            }
            guard info.st_mode & S_IFMT == S_IFDIR else { continue }
            if let reason = reason(info, owners: owners) { return InsecureDirectory(directory: directory, reason: reason) }
        }
        guard crossesLink, let deepestExisting, let resolved = realpath(deepestExisting, nil) else { return nil }
        let real = String(cString: resolved)
        free(resolved)
        for directory in [real] + ancestors(of: real) {
            var info = stat()
            guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            if let reason = reason(info, owners: owners) {
                return InsecureDirectory(directory: directory, reason: reason + " (the real path of \(deepestExisting))")
            }
        }
        return nil
    }

    /// Why a directory with `info` is unsafe for files of `owners`, or nil.
    static func reason(_ info: stat, owners: [uid_t]) -> String? {
        if info.st_uid != 0 && !owners.contains(info.st_uid) {
            let allowed = Set(owners.filter { $0 != 0 }).sorted().map { "uid \($0)\(userName($0))" }
            return "belongs to uid \(info.st_uid)\(userName(info.st_uid)), not to root"
                + (allowed.isEmpty ? "" : " or the daemon's user (\(allowed.joined(separator: ", ")))")
        }
        let writable = info.st_mode & 0o022
        if writable != 0 && info.st_mode & S_ISVTX == 0 {
            return "may be written by \(writable & 0o002 != 0 ? "others" : "its group") "
                + "(mode \(String(info.st_mode & 0o7777, radix: 8)), no sticky bit)"
        }
        return nil
    }

    /// Every directory above `path`, nearest first, ending with /.
    static func ancestors(of path: String) -> [String] {
        var result: [String] = []
        var current = path
        while current != "/" {
            let parent = (current as NSString).deletingLastPathComponent
            let next = parent.isEmpty ? "/" : parent
            if next == current { break }
            result.append(next)
            current = next
        }
        return result
    }

    private static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return "" }
        return " (\(String(cString: entry.pointee.pw_name)))"
    }
}
