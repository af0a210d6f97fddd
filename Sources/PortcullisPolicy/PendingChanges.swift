import Foundation

/// Changes a tool is about to make to the configuration's files, so that `ConfigLoader` can
/// validate the result before anything is written.
public struct PendingChanges: Sendable, Hashable {
    /// The main file's new contents; nil: as on disk.
    public var mainFile: Data?
    /// keys_dir files (by file name, e.g. `alex.yaml`) to be written with these contents.
    public var keyFiles: [String: Data]
    /// keys_dir files (by file name) to be removed.
    public var removedKeyFiles: Set<String>

    public init(mainFile: Data? = nil, keyFiles: [String: Data] = [:], removedKeyFiles: Set<String> = []) {
        self.mainFile = mainFile
        self.keyFiles = keyFiles
        self.removedKeyFiles = removedKeyFiles
    }
}
