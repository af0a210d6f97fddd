/// Whether a key may log in, and as which entry.
public enum KeyAdmission: Sendable, Hashable {
    case admitted(KeyEntry)
    case refused(reason: String)

    public var entry: KeyEntry? {
        if case .admitted(let entry) = self { return entry }
        return nil
    }
}
