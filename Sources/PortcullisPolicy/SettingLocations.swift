/// Where the settings that only matter at start were written: one location per `listen` and
/// `host_keys` entry, in order, so that a start check can name `file:line`.
public struct SettingLocations: Sendable, Hashable {
    public var listen: [SourceLocation] = []
    public var hostKeys: [SourceLocation] = []

    public init() {}
}
