import Foundation
import Synchronization

/// A proxy's place in the cluster's tunnel registry: one lease, kept alive every TTL/3, carrying
/// its member record (`members/PROXY_ID`) and every claim it makes (`claims/...`). A claim is made
/// with a transaction (`create_revision == 0`, put with the lease) before the listen is bound, and
/// deleted (only if still ours) when it ends.
///
/// Fencing: once the lease has gone unconfirmed for `ttl - margin` (`RegistryLease`), the proxy
/// stops serving its claims: `serves` turns false at once, and `onFence` is told the sessions that
/// held them, to end them. A new lease is then granted and the member registered again.
///
/// The decisions are `RegistryLease`'s; this class does the I/O, on its own thread for the lease,
/// on the caller's thread for a claim (a session claims off its event loop) and on a queue of its
/// own for a release (which never blocks its caller).
public final class TunnelRegistry: @unchecked Sendable {
    /// Who this proxy is in the cluster.
    public struct Member: Sendable {
        public let proxyID: String
        public let advertise: String
        public let hostKey: String

        public init(proxyID: String, advertise: String, hostKey: String) {
            self.proxyID = proxyID
            self.advertise = advertise
            self.hostKey = hostKey
        }
    }

    /// A claim this proxy made: released once, when its listen ends.
    public final class Claim: @unchecked Sendable {
        public let target: ClaimTarget
        public let session: UInt64
        let lease: LeaseID
        let revision: EtcdRevision
        fileprivate weak var registry: TunnelRegistry?
        private let released = Atomic<Bool>(false)

        fileprivate init(target: ClaimTarget, session: UInt64, lease: LeaseID, revision: EtcdRevision,
                         registry: TunnelRegistry) {
            self.target = target
            self.session = session
            self.lease = lease
            self.revision = revision
            self.registry = registry
        }

        /// Whether the listen may still take connections (its lease is confirmed recently enough).
        public var isServing: Bool { registry?.serves(self) ?? false }

        /// Why it is no longer served, once it is not ("lease lost").
        public var lostReason: String? { isServing ? nil : "lease lost" }

        /// The listen ended: the claim is forgotten at once, and its record deleted (if still ours)
        /// off the caller's thread.
        public func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            registry?.release(self)
        }

        deinit { release() }
    }

    /// How a claim came out.
    public enum ClaimOutcome: Sendable {
        case granted(Claim)
        /// Another session (of this proxy or another) holds it.
        case taken(ClaimHolder)
        /// No claim can be made now: the reason (`cluster registry unreachable: ...`).
        case unavailable(String)
    }

    /// Why the registry could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let member: Member
    public let prefix: String
    private let endpoints: [EtcdEndpoint]
    private let clock: @Sendable () -> Double
    private let sessionCount: @Sendable () -> Int
    private let onFence: @Sendable (_ sessions: [UInt64], _ reason: String) -> Void
    private let log: @Sendable (String) -> Void
    private let started = RegistryJSON.now()

    private struct State {
        var lease: RegistryLease
        /// The live claims, by key.
        var claims: [String: (lease: LeaseID, revision: EtcdRevision, session: UInt64)] = [:]
        /// Claims released whose delete etcd has not confirmed (in flight, or etcd did not answer):
        /// deleted (if still ours) once it does.
        var pendingDeletes: [String: EtcdRevision] = [:]
        /// Releases whose delete etcd confirmed lately, and when: a claim of the same key that read
        /// the record just before it went knows it for this proxy's own, gone, and tries again.
        var deleted: [String: (revision: EtcdRevision, at: Double)] = [:]
        /// Claims whose txn got no answer (etcd hung past the timeout): etcd may still apply it, and
        /// then the record, exactly as written under this lease, is ours to delete (nobody holds it).
        /// `absent`: not found once (a txn held up in etcd may yet come: dropped when not found twice).
        var uncertain: [String: (lease: LeaseID, value: [UInt8], absent: Bool)] = [:]
        var sessionsWritten: Int?
        /// The member record's mod_revision as this proxy last wrote it: a rewrite is a
        /// compare-and-swap on it, so that a record someone else changed (or removed) is left alone.
        var memberRevision: EtcdRevision?
        var stopping = false
    }
    private let state: Mutex<State>
    private let wakeUp = NSCondition()
    private var thread: Thread?
    /// Where released claims are deleted, one at a time, in the order released.
    private let releases = DispatchQueue(label: "tunnel-registry-releases")

    /// `ttl`: cluster.lease_ttl in seconds. `sessionCount`: the proxy's live sessions, for its
    /// member record. `onFence`: the sessions whose claims are no longer served, to end with the reason.
    public init(endpoints: [EtcdEndpoint], prefix: String, member: Member, ttl: Double,
                clock: @escaping @Sendable () -> Double = monotonicSeconds,
                sessionCount: @escaping @Sendable () -> Int = { 0 },
                onFence: @escaping @Sendable (_ sessions: [UInt64], _ reason: String) -> Void,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.endpoints = endpoints
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.member = member
        self.clock = clock
        self.sessionCount = sessionCount
        self.onFence = onFence
        self.log = log
        state = Mutex(State(lease: RegistryLease(ttl: ttl)))
    }

    /// The member record's key.
    public var memberKey: String { prefix + "members/" + member.proxyID }

    /// The lease now held (nil: none), for tests and status.
    public var currentLease: LeaseID? { state.withLock { $0.lease.lease } }

    // MARK: - Start and stop

    /// Gets a lease and registers the member, then keeps it alive on a thread of its own. A
    /// proxy_id already registered under another live lease is refused: two proxies must never
    /// share one. With etcd unreachable the proxy starts all the same (its policy may come from
    /// the snapshot): listens are refused until it is registered, which the thread keeps trying.
    public func start() throws {
        let now = clock()
        state.withLock { $0.lease.attempting(at: now) }
        let client = self.client(timeout: requestTimeout)
        do {
            let (lease, ttl) = try grant(client)
            if let holder = try register(client, lease: lease) {
                try? client.revoke(lease)
                throw StartError(description: """
                    proxy_id "\(member.proxyID)" is already registered in etcd by a live proxy \
                    (\(memberKey): advertise \(holder.advertise), started \(holder.started)); each proxy \
                    needs its own proxy_id (a proxy that was killed leaves within lease_ttl)
                    """)
            }
            state.withLock { $0.lease.granted(lease, ttl: Double(ttl), sentAt: now) }
            log("cluster registry: registered as \(memberKey) with lease \(lease) (ttl \(ttl) s)")
        } catch let error as StartError {
            throw error
        } catch {
            state.withLock { $0.lease.failed("\(error)") }
            log("cluster registry unreachable at start (\(error)): remote listens are refused until this proxy is registered")
        }
        let thread = Thread { [self] in run() }
        thread.name = "tunnel-registry"
        self.thread = thread
        thread.start()
    }

    /// Stops the keep-alive and revokes the lease: the member record and every claim go at once.
    public func stop() {
        let lease = state.withLock { state -> LeaseID? in
            state.stopping = true
            return state.lease.lease
        }
        wakeUp.lock()
        wakeUp.broadcast()
        wakeUp.unlock()
        if let lease { try? client(timeout: requestTimeout).revoke(lease) }
    }

    // MARK: - Claims

    /// Claims `target` for `session` of `key` (a key name, for the record), before it is bound.
    public func claim(_ target: ClaimTarget, session: UInt64, key: String) -> ClaimOutcome {
        let holder = ClaimHolder(proxy: member.proxyID, session: session, key: key, since: RegistryJSON.now())
        switch claimRecord(target, session: session, value: RegistryJSON.encode(holder)) {
        case .granted(let claim): return .granted(claim)
        case .unavailable(let reason): return .unavailable(reason)
        case .taken(let bytes):
            return .taken(RegistryJSON.decode(ClaimHolder.self, bytes)
                          ?? ClaimHolder(proxy: "(unreadable claim record)", session: 0, key: "", since: ""))
        }
    }

    /// How a name publish came out.
    public enum NameOutcome: Sendable {
        case granted(Claim)
        /// Another session (of this proxy or another) publishes it.
        case taken(NameRecord)
        case unavailable(String)
    }

    /// Publishes `name` for `session` of `key` with `port` (`names/NAME`, create-only under this
    /// proxy's lease, fenced and released as a claim is).
    public func claimName(_ name: String, session: UInt64, key: String, port: Int) -> NameOutcome {
        let record = NameRecord(proxy: member.proxyID, session: session, key: key, port: port)
        switch claimRecord(.name(name), session: session, value: RegistryJSON.encode(record)) {
        case .granted(let claim): return .granted(claim)
        case .unavailable(let reason): return .unavailable(reason)
        case .taken(let bytes):
            return .taken(RegistryJSON.decode(NameRecord.self, bytes)
                          ?? NameRecord(proxy: "(unreadable name record)", session: 0, key: "", port: 0))
        }
    }

    private enum RecordOutcome {
        case granted(Claim)
        case taken([UInt8])
        case unavailable(String)
    }

    /// The create-only txn behind every claim: `value` under `target`'s key with this proxy's lease.
    private func claimRecord(_ target: ClaimTarget, session: UInt64, value: String) -> RecordOutcome {
        let fullKey = prefix + target.key
        for _ in 0..<3 {
            let lease: LeaseID
            switch state.withLock({ $0.lease.claimable(now: clock()) }) {
            case .failure(let why): return .unavailable(why.reason)
            case .success(let held): lease = held
            }
            let client = self.client(timeout: claimTimeout)
            let result: SwapResult
            do {
                result = try client.compareAndSwap(fullKey, value, if: .absent, lease: lease)
            } catch {
                // Unless etcd said no, the txn may still be applied: its record is looked for later.
                if case EtcdError.server = error {} else {
                    state.withLock { $0.uncertain[fullKey] = (lease, Array(value.utf8), false) }
                }
                return .unavailable("cluster registry unreachable: \(error)")
            }
            switch result {
            case .swapped(let revision):
                // A fence may have run meanwhile: a claim is kept only while its lease serves.
                let kept = state.withLock { state -> Bool in
                    guard state.lease.serves(lease, now: clock()) else { return false }
                    state.claims[fullKey] = (lease, revision, session)
                    return true
                }
                guard kept else {
                    _ = try? client.compareAndDelete(fullKey, modRevision: revision)
                    return .unavailable("cluster registry unreachable: lease lost")
                }
                return .granted(Claim(target: target, session: session, lease: lease, revision: revision, registry: self))
            case .conflict(let current, _):
                guard let current else { continue }    // deleted meanwhile: try again
                // Our own claim, released (its delete not confirmed yet, or confirmed since the
                // record was read), or one whose txn went unanswered and was applied after all:
                // delete it now (if still there) and try again.
                let stale = state.withLock { state -> Bool in
                    if let pending = state.pendingDeletes[fullKey], pending == current.modRevision {
                        state.pendingDeletes[fullKey] = nil
                        return true
                    }
                    if state.deleted[fullKey]?.revision == current.modRevision { return true }
                    if let unsure = state.uncertain[fullKey], unsure.lease == current.lease, unsure.value == current.value {
                        state.uncertain[fullKey] = nil
                        return true
                    }
                    return false
                }
                if stale {
                    _ = try? client.compareAndDelete(fullKey, modRevision: current.modRevision)
                    continue
                }
                return .taken(current.value)
            }
        }
        return .unavailable("cluster registry: \(target) kept changing while claimed; try again")
    }

    /// Whether `claim` may still be served now.
    public func serves(_ claim: Claim) -> Bool {
        let now = clock()
        return state.withLock { $0.lease.serves(claim.lease, now: now) }
    }

    /// Forgets `claim` at once and deletes its record (if still ours) off the caller's thread, on
    /// `releases`: a release never waits for etcd. Until the delete is confirmed the record counts
    /// as ours to delete (`pendingDeletes`), so that a claim of the same key meanwhile, on this
    /// proxy, deletes it itself; a delete etcd did not answer is retried by the keep-alive.
    fileprivate func release(_ claim: Claim) {
        let fullKey = prefix + claim.target.key
        let reachable = state.withLock { state -> Bool in
            guard let entry = state.claims[fullKey], entry.revision == claim.revision else { return false }
            state.claims[fullKey] = nil
            // A fenced lease is revoked as a whole; only a live one's claims are deleted one by one.
            guard state.lease.lease == claim.lease else { return false }
            state.pendingDeletes[fullKey] = claim.revision
            // While etcd does not answer, the delete waits for the keep-alive that gets through.
            return state.lease.failure == nil
        }
        guard reachable else { return }
        let revision = claim.revision
        releases.async { [self] in
            guard (try? client(timeout: claimTimeout).compareAndDelete(fullKey, modRevision: revision)) != nil else { return }
            let now = clock()
            state.withLock { state in
                if state.pendingDeletes[fullKey] == revision { state.pendingDeletes[fullKey] = nil }
                state.deleted[fullKey] = (revision, now)
            }
        }
    }

    /// Waits until every release made so far has had its answer from etcd (or its timeout): for tests.
    public func awaitReleases() {
        releases.sync {}
    }

    // MARK: - The lease

    private var requestTimeout: Double { max(0.2, min(2, state.withLock { $0.lease.ttl } / 3)) }
    private var claimTimeout: Double { max(0.2, min(1, state.withLock { $0.lease.ttl } / 5)) }

    private func client(timeout: Double) -> EtcdClient {
        // Endpoints are never empty here: the caller made them.
        try! EtcdClient(endpoints: endpoints, requestTimeout: timeout)
    }

    private func grant(_ client: EtcdClient) throws -> (LeaseID, Int64) {
        let ttl = Int64(max(1, state.withLock { $0.lease.requestedTTL }.rounded(.up)))
        let lease = try client.grantLease(ttl: ttl)
        return (lease, ttl)
    }

    /// Writes the member record with `lease` if no live one exists; the holder's record if one does.
    private func register(_ client: EtcdClient, lease: LeaseID) throws -> MemberRecord? {
        let record = MemberRecord(advertise: member.advertise, hostKey: member.hostKey, started: started,
                                  sessions: sessionCount())
        switch try client.compareAndSwap(memberKey, RegistryJSON.encode(record), if: .absent, lease: lease) {
        case .swapped(let revision):
            state.withLock {
                $0.sessionsWritten = record.sessions
                $0.memberRevision = revision
            }
            return nil
        case .conflict(let current, _):
            guard let current else { return try register(client, lease: lease) }
            return RegistryJSON.decode(MemberRecord.self, current.value)
                ?? MemberRecord(advertise: "(unreadable)", hostKey: "", started: "(unreadable)")
        }
    }

    private func run() {
        while true {
            let now = clock()
            let (step, stopping) = state.withLock { ($0.lease.next(now: now), $0.stopping) }
            if stopping { return }
            switch step {
            case .wait(let until):
                wakeUp.lock()
                _ = wakeUp.wait(until: Date(timeIntervalSinceNow: max(0.001, until - now)))
                wakeUp.unlock()
            case .keepAlive(let lease):
                keepAlive(lease, sentAt: now)
            case .fence(let lease):
                fence(lease, reason: "lease lost")
            case .grant(let revoking):
                regrant(revoking: revoking, sentAt: now)
            }
        }
    }

    private func keepAlive(_ lease: LeaseID, sentAt: Double) {
        let until = state.withLock { state -> Double in
            state.lease.attempting(at: sentAt)
            return state.lease.servingUntil ?? sentAt
        }
        // The answer must come before the fence is due, so that fencing is never late.
        let client = self.client(timeout: max(0.05, min(requestTimeout, (until - sentAt) / Double(endpoints.count))))
        do {
            let ttl = try client.keepAlive(lease)
            state.withLock { $0.lease.confirmed(lease, ttl: Double(ttl), sentAt: sentAt) }
        } catch EtcdError.server(_, _, 5?, let message) {
            log("cluster registry: lease \(lease) gone: \(message)")
            fence(lease, reason: "lease lost")
            state.withLock { $0.lease.lost(lease) }
            return
        } catch {
            let first = state.withLock { state -> Bool in
                defer { state.lease.failed("\(error)") }
                return state.lease.failure == nil
            }
            if first { log("cluster registry unreachable: \(error)") }
            return
        }
        writeSessions(client, lease: lease)
        retryDeletes(client)
    }

    /// Rewrites the member record when the session count changed (at most once per keep-alive).
    private func writeSessions(_ client: EtcdClient, lease: LeaseID) {
        let count = sessionCount()
        guard let written = state.withLock({ $0.sessionsWritten != count ? $0.memberRevision : nil }) else { return }
        let record = MemberRecord(advertise: member.advertise, hostKey: member.hostKey, started: started, sessions: count)
        switch try? client.compareAndSwap(memberKey, RegistryJSON.encode(record), if: .modRevision(written), lease: lease) {
        case .swapped(let revision):
            state.withLock {
                $0.sessionsWritten = count
                $0.memberRevision = revision
            }
        case .conflict:
            // Deleted, or another proxy's now: never overwritten (it registers again if its lease goes).
            state.withLock { $0.memberRevision = nil }
            log("cluster registry: \(memberKey) was changed or removed by someone else: not rewritten")
        case nil:
            break
        }
    }

    private func retryDeletes(_ client: EtcdClient) {
        let pending = state.withLock { $0.pendingDeletes }
        for (key, revision) in pending where (try? client.compareAndDelete(key, modRevision: revision)) != nil {
            state.withLock { if $0.pendingDeletes[key] == revision { $0.pendingDeletes[key] = nil } }
        }
        removeUncertain(client)
        // A claim reads the record it conflicts with a moment before it checks `deleted`: a few
        // seconds of memory are plenty.
        let now = clock()
        state.withLock { $0.deleted = $0.deleted.filter { now - $0.value.at < 10 } }
    }

    /// Claims whose txn went unanswered: a record etcd applied after all, exactly as written and
    /// under this proxy's lease, held by no claim of this proxy, is deleted (if unchanged).
    private func removeUncertain(_ client: EtcdClient) {
        let unsure = state.withLock { $0.uncertain }
        for (key, written) in unsure {
            // No answer: looked for again after the next keep-alive.
            guard case .success(let found) = Result(catching: { try client.get(key) }) else { continue }
            if let found, found.lease == written.lease, found.value == written.value,
               state.withLock({ $0.claims[key] == nil }) {
                guard (try? client.compareAndDelete(key, modRevision: found.modRevision)) != nil else { continue }
                log("cluster registry: removed \(key), claimed by a txn that went unanswered and was applied after all")
            }
            state.withLock { state in
                guard let entry = state.uncertain[key], entry.lease == written.lease, entry.value == written.value else { return }
                // Not there yet: once more after the next keep-alive, in case the txn still waits in etcd.
                if found == nil && !entry.absent {
                    state.uncertain[key]?.absent = true
                } else {
                    state.uncertain[key] = nil
                }
            }
        }
    }

    /// Stops serving every claim of `lease`: `serves` is already false for them (by time); their
    /// sessions are ended through `onFence`.
    private func fence(_ lease: LeaseID, reason: String) {
        let sessions = state.withLock { state -> [UInt64] in
            state.lease.fenced(lease)
            var sessions = Set<UInt64>()
            for (key, entry) in state.claims where entry.lease == lease {
                sessions.insert(entry.session)
                state.claims[key] = nil
                state.pendingDeletes[key] = nil
            }
            state.uncertain = state.uncertain.filter { $0.value.lease != lease }
            state.sessionsWritten = nil
            state.memberRevision = nil
            return sessions.sorted()
        }
        log("cluster registry: \(reason) (lease \(lease) not confirmed in time); \(sessions.count) session(s) holding claims end")
        if !sessions.isEmpty { onFence(sessions, reason) }
    }

    private func regrant(revoking: LeaseID?, sentAt: Double) {
        state.withLock { $0.lease.attempting(at: sentAt) }
        let client = self.client(timeout: requestTimeout)
        do {
            if let revoking {
                // An answer of any kind (not found, say) means etcd no longer holds it as ours.
                do { try client.revoke(revoking) } catch EtcdError.server {}
                state.withLock { $0.lease.revoked(revoking) }
            }
            let (lease, ttl) = try grant(client)
            if let holder = try register(client, lease: lease) {
                try? client.revoke(lease)
                let reason = "proxy_id \"\(member.proxyID)\" is registered by another live proxy (started \(holder.started))"
                state.withLock { $0.lease.abandon(reason: reason) }
                log("cluster registry: \(reason); claims refused until it leaves")
                return
            }
            state.withLock { $0.lease.granted(lease, ttl: Double(ttl), sentAt: sentAt) }
            log("cluster registry: registered again as \(memberKey) with lease \(lease)")
        } catch {
            state.withLock { $0.lease.failed("\(error)") }
        }
    }
}
