import Foundation

/// The records under one etcd prefix, kept current in memory: a watch applies each change as it
/// happens, and a full read every `rereadInterval` seconds (which also restarts a watch that
/// ended) corrects whatever a watch could miss. Each record is decoded once, when it changes;
/// one that does not decode is kept as its error, so that it can be reported.
public final class EtcdFollower<Record: Sendable>: @unchecked Sendable {
    /// A record as decoded, by the rest of its key after the prefix.
    public typealias Records = [String: Result<Record, RegistryRecordError>]

    private let client: EtcdClient
    private let prefix: String
    private let rereadInterval: Double
    private let decode: @Sendable (_ id: String, _ kv: KeyValue) -> Result<Record, RegistryRecordError>
    private let changed: @Sendable (Records) -> Void
    private let readFailed: @Sendable (EtcdError?) -> Void
    private let lock = NSLock()
    // Under `lock`.
    private var current: Records = [:]
    private var readRevision: EtcdRevision = 0
    private var synced = false

    /// Starts following `prefix` on a thread of its own. `changed` gets every new state (on that
    /// thread or the watch's); `readFailed` gets a full read's failure, and nil once one works again.
    public init(client: EtcdClient, prefix: String, rereadInterval: Double = 5,
                decode: @escaping @Sendable (_ id: String, _ kv: KeyValue) -> Result<Record, RegistryRecordError>,
                changed: @escaping @Sendable (Records) -> Void,
                readFailed: @escaping @Sendable (EtcdError?) -> Void = { _ in }) {
        self.client = client
        self.prefix = prefix
        self.rereadInterval = rereadInterval
        self.decode = decode
        self.changed = changed
        self.readFailed = readFailed
        let thread = Thread { [self] in follow() }
        thread.name = "etcd-follow"
        thread.start()
    }

    /// The records as last seen; nil until the first full read has worked.
    public var records: Records? {
        lock.withLock { synced ? current : nil }
    }

    private func follow() {
        var failing = false
        var watch: EtcdWatch?
        while true {
            do {
                let (kvs, revision) = try client.range(prefix: prefix)
                var read: Records = [:]
                for kv in kvs {
                    let id = self.id(kv)
                    read[id] = decode(id, kv)
                }
                let state = lock.withLock { () -> Records in
                    current = read
                    readRevision = revision
                    synced = true
                    return current
                }
                changed(state)
                if watch == nil || watch!.isStopped {
                    watch?.cancel()
                    watch = EtcdWatch(client: client, prefix: prefix, fromRevision: revision + 1) { [self] event in
                        let id = self.id(event.kv)
                        let record = event.kind == .delete ? nil : decode(id, event.kv)
                        let state = lock.withLock { () -> Records? in
                            // A change the last full read already shows (or a later one) is not undone.
                            guard event.revision > readRevision else { return nil }
                            current[id] = record
                            return current
                        }
                        if let state { changed(state) }
                    }
                }
                if failing { readFailed(nil) }
                failing = false
            } catch {
                if !failing { readFailed(error as? EtcdError ?? .badResponse(client.endpoints[0], "\(error)")) }
                failing = true
            }
            usleep(UInt32(rereadInterval * 1_000_000))
        }
    }

    private func id(_ kv: KeyValue) -> String {
        String(decoding: kv.key.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
