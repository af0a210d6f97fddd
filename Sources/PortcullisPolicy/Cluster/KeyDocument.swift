import Foundation

/// One key entry as stored outside the config files (cluster mode: the value of `PREFIX/keys/NAME`
/// in etcd): the same YAML as a keys_dir file, read by the same parser.
public struct KeyDocument: Sendable, Hashable, Codable {
    /// The entry's name: the last part of its key in the store (it must equal the entry's `name`).
    public var name: String
    /// Where it came from, as problems name it: `etcd:/portcullis/keys/alex`.
    public var origin: String
    /// The YAML, byte for byte as stored.
    public var bytes: [UInt8]
    /// The store's revision of its last change (etcd's mod_revision), for compare-and-swap writes.
    public var modRevision: Int64

    public init(name: String, origin: String, bytes: [UInt8], modRevision: Int64) {
        self.name = name
        self.origin = origin
        self.bytes = bytes
        self.modRevision = modRevision
    }

    /// `etcd:PREFIXkeys/NAME`: how problems in a document stored in etcd under `prefix` are named.
    public static func etcdOrigin(prefix: String, name: String) -> String {
        "etcd:" + ClusterKeys.keyPath(prefix: prefix, name: name)
    }
}

/// Where key entries live in etcd: `PREFIX` + `keys/` + NAME.
public enum ClusterKeys {
    /// `PREFIXkeys/`: every key entry's key starts with it.
    public static func directory(prefix: String) -> String {
        (prefix.hasSuffix("/") ? prefix : prefix + "/") + "keys/"
    }

    /// `PREFIXkeys/NAME`.
    public static func keyPath(prefix: String, name: String) -> String { directory(prefix: prefix) + name }
}
