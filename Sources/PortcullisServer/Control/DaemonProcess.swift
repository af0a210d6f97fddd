import Foundation

/// What a process id names, checked before a signal is sent to it: a pid file can hold any
/// number (it is the daemon's account's, which may write another process's pid there).
public enum DaemonProcess {
    /// The daemon's executable name.
    public static let name = "portcullisd"

    /// Why `pid` is not a running portcullisd, naming what it is instead; nil if it is one.
    /// Its executable (/proc/PID/exe, readable by root or its owner) must be named portcullisd;
    /// when that cannot be read, its name (/proc/PID/comm) must be (such a caller can only
    /// signal its own processes anyway).
    public static func problem(pid: Int32, proc: String = "/proc") -> String? {
        guard pid > 0 else { return "\(pid) is not a process id" }
        let directory = "\(proc)/\(pid)"
        if let exe = executable(directory) {
            return (exe as NSString).lastPathComponent == name ? nil : "pid \(pid) is \(exe), not \(name)"
        }
        guard let data = FileManager.default.contents(atPath: "\(directory)/comm"),
              let comm = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines) else {
            return access(directory, F_OK) == 0
                ? "cannot tell which program pid \(pid) runs (\(directory)/exe and comm unreadable)"
                : "no process has pid \(pid)"
        }
        return comm == name ? nil : "pid \(pid) is \"\(comm)\" (its process name), not \(name)"
    }

    /// The path of the program `directory` (/proc/PID) runs, without " (deleted)" (an upgrade
    /// replaced the file), or nil if it cannot be read (another user's process, a kernel thread).
    static func executable(_ directory: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("\(directory)/exe", &buffer, Int(PATH_MAX))
        guard count > 0 else { return nil }
        let bytes = buffer[0..<count].map { UInt8(bitPattern: $0) }
        var path = String(decoding: bytes, as: UTF8.self)
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        return path
    }
}
