import Foundation

/// An etcd store revision (a cluster-wide, increasing counter).
public typealias EtcdRevision = Int64

/// An etcd lease id.
public struct LeaseID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

/// One key and its value as stored, with its revisions.
public struct KeyValue: Sendable, Equatable {
    public let key: [UInt8]
    public let value: [UInt8]
    /// The revision of the key's creation (0: the key does not exist).
    public let createRevision: EtcdRevision
    /// The revision of the key's last change.
    public let modRevision: EtcdRevision
    /// How many times the key was changed since its creation.
    public let version: Int64
    /// The lease the key is attached to, if any.
    public let lease: LeaseID?

    public var keyString: String { String(decoding: key, as: UTF8.self) }
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}

/// The outcome of `compareAndSwap`.
public enum SwapResult: Sendable, Equatable {
    /// The write happened, at this revision.
    case swapped(revision: EtcdRevision)
    /// The comparison failed; the key's current value (nil: absent), as of the given store revision.
    case conflict(current: KeyValue?, revision: EtcdRevision)

    public var succeeded: Bool { if case .swapped = self { return true }; return false }
}

/// What `compareAndSwap` expects of the key before writing.
public enum SwapCondition: Sendable, Equatable {
    /// The key must not exist (create_revision == 0).
    case absent
    /// The key's mod_revision must be exactly this.
    case modRevision(EtcdRevision)
}

/// A change seen by a watch.
public struct WatchEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case put, delete }
    public let kind: Kind
    /// The key after a put; after a delete, the key with an empty value and the deleting revision.
    public let kv: KeyValue
    /// The revision of the change.
    public var revision: EtcdRevision { kv.modRevision }
}
