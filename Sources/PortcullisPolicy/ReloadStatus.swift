import Foundation

/// What `portcullisd --pid-file PATH` writes to `PATH.reload` after each SIGHUP: the answer
/// `policyctl reload` waits for.
public struct ReloadStatus: Codable, Sendable, Hashable {
    /// The daemon that wrote it.
    public var pid: Int32
    /// 1 for the first reload since the daemon started, then 2, 3, ...
    public var sequence: Int
    /// Whether the new configuration is in force.
    public var ok: Bool
    /// What the daemon said: the key count, or every problem (file:line) of a rejected config.
    public var message: String

    public init(pid: Int32, sequence: Int, ok: Bool, message: String) {
        self.pid = pid
        self.sequence = sequence
        self.ok = ok
        self.message = message
    }

    /// The status file next to the pid file.
    public static func path(pidFile: String) -> String { pidFile + ".reload" }

    /// Reads a status file; nil if it is absent or unreadable.
    public static func read(pidFile: String) -> ReloadStatus? {
        guard let data = FileManager.default.contents(atPath: path(pidFile: pidFile)) else { return nil }
        return try? JSONDecoder().decode(ReloadStatus.self, from: data)
    }

    /// Writes it atomically next to `pidFile`.
    public func write(pidFile: String) throws(AtomicFile.Failure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        try AtomicFile.write(data + Data("\n".utf8), to: Self.path(pidFile: pidFile), mode: 0o644)
    }
}
