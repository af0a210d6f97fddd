import Foundation
import PortcullisCluster
import PortcullisPolicy

/// Where a cluster proxy's key entries come from, and how it follows etcd.
///
/// At start, a range read of `PREFIX/keys/` at revision R (or, with etcd unreachable, the snapshot
/// on disk). Once running, a watch from R+1: each change is handed to `apply` (the daemon's
/// reload, which validates entry by entry: see `ClusterKeyMerge`); what it puts in force it hands
/// back with `adopt`, which writes it to the snapshot (never an entry that does not load). When
/// etcd cannot be reached the policy in force stays (fail-static): the source says so once
/// (`disconnected`), tries again every `retryDelay`, and on reconnecting reads everything again at
/// the current revision before watching from there (`connected`).
public final class ClusterPolicySource: @unchecked Sendable {
    /// What happens to the connection, for the audit log, the metric and the status.
    public enum Event: Sendable, Equatable {
        case disconnected(reason: String)
        /// Connected again; the revision read.
        case connected(revision: Int64)
    }

    /// Where the policy is, for `policyctl status`.
    public struct State: Sendable, Equatable {
        public var connected: Bool
        /// Since when it is connected, or stale.
        public var since: Date
        /// The etcd revision of the entries last seen.
        public var revision: Int64
        /// Why it is not connected.
        public var reason: String?
    }

    /// Why a start is impossible: neither etcd nor a usable snapshot.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let store: ClusterKeyStore
    public let snapshotPath: String
    private let retryDelay: Double
    /// Seconds between two probes of etcd while the watch runs: a watch stream that has gone
    /// silent (etcd hung, or a connection a network drops without a word) says nothing itself.
    private let probeInterval: Double
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    /// The entries as etcd last said (by name), and the revision of that.
    private var latest: [String: KeyDocument] = [:]
    private var revision: Int64 = 0
    /// The entries of the policy in force (the last applied), and their revision: what the snapshot holds.
    private var good: [String: KeyDocument] = [:]
    private var goodRevision: Int64 = 0
    private var state: State
    /// Bumped at every new watch: a callback of an older one is ignored.
    private var generation = 0
    private var watch: EtcdWatch?
    /// What the last probe saw when it differed from what the watch had delivered.
    private var suspicion: Probe?
    private var stopped = false
    /// Changes are applied one at a time, in revision order.
    private let queue = DispatchQueue(label: "cluster-policy")
    /// Where the probes wait on etcd: a serial queue of their own, never the global queues' shared threads.
    private let probes = DispatchQueue(label: "cluster-policy-probe")
    private var apply: (@Sendable (String) -> Bool)?
    private var events: (@Sendable (Event) -> Void)?

    public init(store: ClusterKeyStore, snapshotPath: String, retryDelay: Double = 0.5, probeInterval: Double = 2,
                log: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.snapshotPath = snapshotPath
        self.retryDelay = retryDelay
        self.probeInterval = probeInterval
        self.log = log
        state = State(connected: false, since: Date(), revision: 0, reason: "not started")
    }

    /// The key entries to load the configuration with: as etcd last said.
    public var documents: [KeyDocument] { lock.withLock { latest.values.sorted { $0.name < $1.name } } }

    /// The key entries of the policy in force (the last adopted): what the snapshot holds.
    public var lastGood: [KeyDocument] { lock.withLock { good.values.sorted { $0.name < $1.name } } }

    /// The daemon put `documents` in force (all of etcd's entries, or, when some did not load,
    /// those that did and the last good versions of the rest): they become the last good entries,
    /// as of the revision last seen, and the snapshot.
    public func adopt(_ documents: [KeyDocument]) {
        lock.withLock {
            good = Dictionary(documents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            goodRevision = revision
        }
        keepSnapshot()
    }

    public var current: State { lock.withLock { state } }

    /// Reads the entries from etcd, or (unreachable) from the snapshot; throws if neither can be had.
    /// Returns a sentence saying where they came from.
    @discardableResult
    public func begin() throws(Failure) -> String {
        do {
            let (documents, revision) = try store.read()
            lock.withLock {
                latest = Dictionary(documents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                self.revision = revision
                (good, goodRevision) = (latest, revision)
                state = State(connected: true, since: Date(), revision: revision, reason: nil)
            }
            return "policy from etcd at revision \(revision) (\(documents.count) keys)"
        } catch {
            let reason = "\(error)"
            let snapshot: ClusterSnapshot
            do {
                snapshot = try ClusterSnapshot.read(from: snapshotPath)
            } catch {
                throw Failure(description: "etcd is unreachable (\(reason)) and there is no usable policy snapshot "
                              + "(\(error)): refusing to start without a policy")
            }
            guard snapshot.prefix == store.prefix else {
                throw Failure(description: "etcd is unreachable (\(reason)) and the policy snapshot \(snapshotPath) is of "
                              + "prefix \(snapshot.prefix), not \(store.prefix): refusing to start without a policy")
            }
            lock.withLock {
                latest = Dictionary(snapshot.documents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                revision = snapshot.revision
                (good, goodRevision) = (latest, revision)
                state = State(connected: false, since: Date(), revision: snapshot.revision, reason: reason)
            }
            return "etcd is unreachable (\(reason)): policy from the snapshot \(snapshotPath) (revision "
                + "\(snapshot.revision), written \(Expiry.text(snapshot.written)), \(snapshot.documents.count) keys); "
                + "it is stale until etcd answers"
        }
    }

    /// Follows etcd from now on: `apply` reloads the policy (true: applied, and what it put in force
    /// was handed to `adopt`; false: refused, the last good policy stays), `events` hears of
    /// disconnections and reconnections. Call after `begin()` once the daemon runs as its service
    /// account (the snapshot is written as that account).
    public func run(apply: @escaping @Sendable (String) -> Bool, events: @escaping @Sendable (Event) -> Void) {
        queue.async { [self] in
            lock.withLock {
                self.apply = apply
                self.events = events
            }
            if current.connected {
                keepSnapshot()
                startWatch()
            } else {
                events(.disconnected(reason: current.reason ?? "unreachable"))
                reconnectSoon()
            }
        }
    }

    /// Stops watching and retrying.
    public func stop() {
        lock.withLock {
            stopped = true
            generation += 1
            watch?.cancel()
            watch = nil
        }
    }

    // MARK: - On the queue

    private func startWatch() {
        let (from, mine) = lock.withLock { () -> (Int64, Int) in
            generation += 1
            suspicion = nil
            return (revision + 1, generation)
        }
        let watch = EtcdWatch(client: store.client, prefix: store.directory, fromRevision: from, retryDelay: retryDelay,
                              onError: { [self] error in queue.async { self.lost(generation: mine, reason: "\(error)") } },
                              handler: { [self] event in queue.sync { self.changed(event, generation: mine) } })
        lock.withLock {
            if generation == mine, !stopped { self.watch = watch } else { watch.cancel() }
        }
        probeSoon(generation: mine)
    }

    /// While watch `mine` runs: asks etcd every `probeInterval` (off the queue, which applies the
    /// changes) which entries exist and their revisions, without their values. No answer within
    /// the client's timeout is a lost connection, as a broken watch is (fail-static, said,
    /// reconnected); so is a watch that fell silent: etcd shows an entry the watch never
    /// delivered (a put newer than the policy's revision, or a set of names that differs), at two
    /// probes in a row.
    private func probeSoon(generation mine: Int) {
        queue.asyncAfter(deadline: .now() + probeInterval) { [self] in
            guard lock.withLock({ generation == mine && !stopped }) else { return }
            probes.async { [self] in
                do {
                    let (kvs, _) = try store.client.keys(prefix: store.directory)
                    let seen = Probe(names: Set(kvs.compactMap { store.name(ofKey: $0.key) }),
                                     newest: kvs.map(\.modRevision).max() ?? 0)
                    queue.async {
                        if let silent = self.watchMissed(seen, generation: mine) {
                            self.lost(generation: mine, reason: silent)
                        } else {
                            self.probeSoon(generation: mine)
                        }
                    }
                } catch {
                    queue.async { self.lost(generation: mine, reason: "etcd did not answer while watched: \(error)") }
                }
            }
        }
    }

    /// What a probe saw of the entries in etcd.
    struct Probe: Equatable {
        var names: Set<String>
        /// The newest mod_revision among them.
        var newest: Int64
    }

    /// On the queue: why the watch must have missed a change, or nil. What the previous probe saw
    /// and the watch has still not delivered a whole probe interval later (a put newer than the
    /// policy's revision, an entry created or deleted, still so now) was missed; one probe behind
    /// is not enough, as the watch may be delivering what the probe read just before.
    private func watchMissed(_ seen: Probe, generation mine: Int) -> String? {
        lock.withLock {
            guard generation == mine else { return nil }
            let known = Set(latest.keys)
            let differs = seen.names.symmetricDifference(known)
            defer { suspicion = seen.newest > revision || !differs.isEmpty ? seen : nil }
            guard let previous = suspicion else { return nil }
            let stale = previous.newest > revision
            let lasting = previous.names.symmetricDifference(known).intersection(differs).sorted()
            guard stale || !lasting.isEmpty else { return nil }
            return "the watch fell silent: etcd holds "
                + (stale ? "a change at revision \(previous.newest) (the policy is at \(revision))" : "")
                + (stale && !lasting.isEmpty ? " and " : "")
                + (lasting.isEmpty ? "" : "entries created or deleted (\(lasting.prefix(5).joined(separator: ", ")))")
                + " that it never delivered"
        }
    }

    private func changed(_ event: WatchEvent, generation mine: Int) {
        guard let name = store.name(ofKey: event.kv.key) else { return }
        let apply: (@Sendable (String) -> Bool)? = lock.withLock {
            guard generation == mine, !stopped else { return nil }
            switch event.kind {
            case .put: latest[name] = store.document(event.kv)
            case .delete: latest[name] = nil
            }
            revision = event.revision
            state.revision = event.revision
            return self.apply
        }
        guard let apply else { return }
        let what = "etcd \(event.kind == .put ? "put" : "delete") of \(ClusterKeys.keyPath(prefix: store.prefix, name: name)) "
            + "at revision \(event.revision)"
        _ = apply(what)
    }

    private func lost(generation mine: Int, reason: String) {
        let events: (@Sendable (Event) -> Void)? = lock.withLock {
            guard generation == mine, !stopped else { return nil }
            generation += 1
            watch?.cancel()
            watch = nil
            state = State(connected: false, since: Date(), revision: revision, reason: reason)
            return self.events
        }
        guard let events else { return }
        events(.disconnected(reason: reason))
        reconnectSoon()
    }

    private func reconnectSoon() {
        queue.asyncAfter(deadline: .now() + retryDelay) { [self] in
            guard !lock.withLock({ stopped }) else { return }
            let read: (documents: [KeyDocument], revision: Int64)
            do {
                read = try store.read()
            } catch {
                lock.withLock { state.reason = "\(error)" }
                return reconnectSoon()
            }
            let (changed, apply, events) = lock.withLock { () -> (Bool, (@Sendable (String) -> Bool)?, (@Sendable (Event) -> Void)?) in
                let fresh = Dictionary(read.documents.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                let changed = fresh.mapValues(\.bytes) != good.mapValues(\.bytes)
                latest = fresh
                revision = read.revision
                state = State(connected: true, since: Date(), revision: read.revision, reason: nil)
                return (changed, self.apply, self.events)
            }
            events?(.connected(revision: read.revision))
            if changed, let apply {
                _ = apply("etcd reconnected, read at revision \(read.revision)")
            } else if !changed {  // the policy in force is still etcd's: only its revision moves
                applied()
            }
            startWatch()
        }
    }

    /// The entries etcd last said are in force now: they become the snapshot.
    private func applied() {
        lock.withLock { (good, goodRevision) = (latest, revision) }
        keepSnapshot()
    }

    /// One snapshot write at a time (the watch's queue and a SIGHUP reload may both write).
    private let snapshotLock = NSLock()

    /// Writes the policy in force to the snapshot now (the daemon's first, right after it dropped
    /// to its account: a failure there stops the start).
    public func writeSnapshot() throws(ClusterSnapshot.Failure) {
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        let snapshot = lock.withLock {
            ClusterSnapshot(prefix: store.prefix, revision: goodRevision, documents: Array(good.values))
        }
        try snapshot.write(to: snapshotPath)
    }

    private func keepSnapshot() {
        do {
            try writeSnapshot()
        } catch {
            log("cannot write the policy snapshot \(snapshotPath): \(error)")
        }
    }
}
