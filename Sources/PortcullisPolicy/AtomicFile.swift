import Foundation

/// Writes files so that a reader sees the old contents or the new, never a mix: a temporary file in
/// the same directory, fsync, then rename (or link, to refuse an existing file), then fsync of the
/// directory.
public enum AtomicFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Writes `data` to `path` with `mode`. `replace: false` refuses (atomically) if `path` exists.
    public static func write(_ data: Data, to path: String, mode: mode_t, replace: Bool = true) throws(Failure) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        var template = Array("\(directory.isEmpty ? "." : directory)/.\(name).XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw Failure(description: "cannot create a temporary file next to \(path): \(errorText())") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var failure: Failure?
        if fchmod(fd, mode) != 0 { failure = Failure(description: "cannot set the mode of \(temporary): \(errorText())") }
        data.withUnsafeBytes { buffer in
            var offset = 0
            while failure == nil, offset < buffer.count {
                let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0, errno == EINTR { continue }
                if written <= 0 { failure = Failure(description: "cannot write \(temporary): \(errorText())") } else { offset += written }
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = Failure(description: "cannot fsync \(temporary): \(errorText())") }
        close(fd)
        if failure == nil {
            if replace {
                if rename(temporary, path) != 0 { failure = Failure(description: "cannot rename into \(path): \(errorText())") }
            } else if link(temporary, path) != 0 {
                failure = Failure(description: errno == EEXIST ? "\(path) already exists" : "cannot create \(path): \(errorText())")
            }
        }
        if failure != nil || !replace { unlink(temporary) }
        if let failure { throw failure }
        syncDirectory(of: path)
    }

    /// Removes `path` and makes the removal durable.
    public static func remove(_ path: String) throws(Failure) {
        guard unlink(path) == 0 else { throw Failure(description: "cannot remove \(path): \(errorText())") }
        syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
