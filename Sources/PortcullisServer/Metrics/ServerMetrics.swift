import Foundation
import PortcullisPolicy

/// What the server counts for `/metrics`: fed from the event stream (``MetricsRecorder``) and a
/// few hooks (admission refusals, audit write latency, reloads), sampled when scraped. Thread-safe;
/// each update takes one short lock, never per forwarded byte.
public final class ServerMetrics: @unchecked Sendable {
    /// Whether sessions, channels and bytes carry a `key` label (`metrics_per_key`).
    public let perKey: Bool
    private let version: String
    private let libssh: String
    private let lock = NSLock()

    /// What is known about one open session.
    private struct Session {
        var openedAt: UInt64
        /// The key's name once authenticated.
        var key: String?
        /// Listens bound and not yet cancelled.
        var listens: [ForwardRequest] = []
        /// Open channels and their kind.
        var channels: [UInt64: String] = [:]
    }

    private var sessions: [UInt64: Session] = [:]
    private var sessionGauge: [[String]: Double] = [:]
    private var channelGauge: [[String]: Double] = [:]
    private var listenGauge: [String: Double] = [:]
    private var authSuccesses: Double = 0
    private var authFailures: Double = 0
    private var decisions: [[String]: Double] = [:]
    private var bytes: [[String]: Double] = [:]
    private var setupLatency = Histogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
    private var auditWriteLatency = Histogram(bounds: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025, 0.05, 0.1, 0.25, 1])
    private var refusals: [String: Double] = [:]
    private var reloads: [String: Double] = ["ok": 0, "rejected": 0]
    private var auditBacklog: (@Sendable () -> Int)?
    private var admission: (@Sendable () -> (unauthenticated: Int, penalised: Int))?
    private var forwarded: (@Sendable () -> (toClient: UInt64, fromClient: UInt64))?
    private var clusterConnected: (@Sendable () -> Bool)?

    private static let openKinds = ["tcp-open", "streamlocal-open", "name-open", "tcp-listen", "streamlocal-listen", "name-publish"]
    private static let listenKinds = ["tcp-listen", "streamlocal-listen", "name-publish"]
    private static let refusalKinds = ["max-startups", "per-source-max-startups", "penalty", "penalty-table-full"]

    public init(perKey: Bool = false, version: String, libssh: String) {
        self.perKey = perKey
        self.version = version
        self.libssh = libssh
        // Every series without a key label exists from the start, at zero.
        if !perKey {
            sessionGauge[[]] = 0
            for kind in Self.openKinds { channelGauge[[kind]] = 0 }
            for direction in ["to_client", "from_client"] { bytes[[direction]] = 0 }
        }
        for kind in Self.listenKinds { listenGauge[kind] = 0 }
        for kind in Self.openKinds {
            for outcome in ["allowed", "denied"] { decisions[[kind, outcome]] = 0 }
        }
        for kind in Self.refusalKinds { refusals[kind] = 0 }
    }

    // MARK: - Feeding

    /// Takes in one event of the server's.
    public func observe(_ event: ServerEvent, now: UInt64 = MetricsClock.now) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .sessionOpened(let session, _, _):
            sessions[session] = Session(openedAt: now)
        case .authenticated(let session, _, _, let keyName):
            authSuccesses += 1
            guard var state = sessions[session], state.key == nil else { break }
            state.key = keyName
            sessions[session] = state
            sessionGauge[keyLabel(keyName), default: 0] += 1
            setupLatency.observe(Double(now &- state.openedAt) / 1e9)
        case .authRefused:
            authFailures += 1
        case .forwardRequested(_, let request, let decision, _, _):
            decisions[[request.kind, decision.isAllowed ? "allowed" : "denied"], default: 0] += 1
        case .forwardBound(let session, let request, _):
            sessions[session]?.listens.append(request)
            listenGauge[request.kind, default: 0] += 1
        case .forwardCancelled(let session, let request):
            if let index = sessions[session]?.listens.firstIndex(of: request) {
                sessions[session]?.listens.remove(at: index)
                listenGauge[request.kind, default: 0] -= 1
            }
        case .channelOpened(let session, let channel, let request, _):
            guard sessions[session] != nil else { break }
            sessions[session]?.channels[channel] = request.kind
            channelGauge[[request.kind] + keyLabel(sessions[session]?.key), default: 0] += 1
        case .channelClosed(let session, let channel, _, let toClient, let fromClient, _, _):
            let key = keyLabel(sessions[session]?.key)
            if let kind = sessions[session]?.channels.removeValue(forKey: channel) {
                channelGauge[[kind] + key, default: 0] -= 1
            }
            bytes[["to_client"] + key, default: 0] += Double(toClient)
            bytes[["from_client"] + key, default: 0] += Double(fromClient)
        case .sessionClosed(let session, _, _, _, _, _):
            guard let state = sessions.removeValue(forKey: session) else { break }
            let key = keyLabel(state.key)
            if state.key != nil { sessionGauge[key, default: 0] -= 1 }
            for request in state.listens { listenGauge[request.kind, default: 0] -= 1 }
            for kind in state.channels.values { channelGauge[[kind] + key, default: 0] -= 1 }
            if perKey { dropZeros(key) }
        case .forwardFailed, .nameWithdrawn, .requestMalformed, .staleSocketRemoved, .socketLeftAlone,
             .connectionRefused, .sourcePenalised, .relay:
            break
        }
    }

    /// A connection was refused at accept (`kind`: max-startups, per-source, penalty, ...).
    public func connectionRefused(kind: String) {
        lock.lock()
        refusals[kind, default: 0] += 1
        lock.unlock()
    }

    /// An audit record took `seconds` to write.
    public func auditWritten(seconds: Double) {
        lock.lock()
        auditWriteLatency.observe(seconds)
        lock.unlock()
    }

    /// A reload was done (`ok`) or rejected.
    public func reloaded(ok: Bool) {
        lock.lock()
        reloads[ok ? "ok" : "rejected", default: 0] += 1
        lock.unlock()
    }

    /// Where the audit backlog is read when scraped.
    public func sampleAuditBacklog(_ read: @escaping @Sendable () -> Int) {
        lock.lock()
        auditBacklog = read
        lock.unlock()
    }

    /// Cluster mode: where whether etcd is reachable is read when scraped (`portcullis_cluster_connected`).
    public func sampleClusterConnected(_ read: @escaping @Sendable () -> Bool) {
        lock.lock()
        clusterConnected = read
        lock.unlock()
    }

    /// Where the unauthenticated connections and the penalised sources are read when scraped.
    func sampleAdmission(_ read: @escaping @Sendable () -> (unauthenticated: Int, penalised: Int)) {
        lock.lock()
        admission = read
        lock.unlock()
    }

    /// Where the bytes forwarded so far are read when scraped: then the series without a key
    /// label count bytes as they move, not when their channel closes.
    func sampleForwardedBytes(_ read: @escaping @Sendable () -> (toClient: UInt64, fromClient: UInt64)) {
        lock.lock()
        forwarded = read
        lock.unlock()
    }

    // MARK: - Reading

    /// Every family, in a fixed order.
    public func families() -> [MetricFamily] {
        lock.lock()
        let backlogRead = auditBacklog
        let admissionRead = admission
        let clusterRead = clusterConnected
        var bytes = self.bytes
        if !perKey, let forwarded {
            let (toClient, fromClient) = forwarded()
            bytes = [["to_client"]: Double(toClient), ["from_client"]: Double(fromClient)]
        }
        var out: [MetricFamily] = []
        let keyName = perKey ? ["key"] : []
        out.append(gauge("portcullis_sessions", "Authenticated SSH sessions open.", sessionGauge, labels: keyName))
        out.append(gauge("portcullis_channels", "Forwarded channels open, by kind of forward.", channelGauge,
                         labels: ["kind"] + keyName))
        out.append(gauge("portcullis_forwards", "Remote listens (ssh -R) open, by kind.",
                         Dictionary(uniqueKeysWithValues: listenGauge.map { ([$0.key], $0.value) }), labels: ["kind"]))
        out.append(MetricFamily(name: "portcullis_auth_successes_total", help: "Logins that succeeded.",
                                kind: .counter, samples: [.init(value: authSuccesses)]))
        out.append(MetricFamily(name: "portcullis_auth_failures_total", help: "Login attempts refused.",
                                kind: .counter, samples: [.init(value: authFailures)]))
        out.append(counter("portcullis_decisions_total", "Listen and open requests decided, by kind and outcome.",
                           decisions, labels: ["kind", "outcome"]))
        out.append(counter("portcullis_forwarded_bytes_total",
                           perKey ? "Bytes forwarded on channels, by direction; counted when a channel closes."
                                  : "Bytes forwarded on channels, by direction, as they move.",
                           bytes, labels: ["direction"] + keyName))
        out.append(MetricFamily(name: "portcullis_connection_setup_seconds",
                                help: "Time from accept to authenticated.", kind: .histogram,
                                samples: setupLatency.samples()))
        out.append(MetricFamily(name: "portcullis_audit_write_seconds", help: "Time to write one audit record.",
                                kind: .histogram, samples: auditWriteLatency.samples()))
        out.append(counter("portcullis_connections_refused_total",
                           "Connections refused at accept (admission), by reason.",
                           Dictionary(uniqueKeysWithValues: refusals.map { ([$0.key], $0.value) }), labels: ["reason"]))
        out.append(counter("portcullis_reloads_total", "Configuration reloads, by outcome.",
                           Dictionary(uniqueKeysWithValues: reloads.map { ([$0.key], $0.value) }), labels: ["outcome"]))
        lock.unlock()
        // Sampled outside the lock: these take locks of their own.
        let backlog = backlogRead?() ?? 0
        let admitted: (unauthenticated: Int, penalised: Int) = admissionRead?() ?? (0, 0)
        out.append(MetricFamily(name: "portcullis_audit_backlog", help: "Audit records waiting to be written.",
                                kind: .gauge, samples: [.init(value: Double(backlog))]))
        out.append(MetricFamily(name: "portcullis_preauth_connections",
                                help: "Connections accepted and not yet authenticated.", kind: .gauge,
                                samples: [.init(value: Double(admitted.unauthenticated))]))
        out.append(MetricFamily(name: "portcullis_penalised_sources",
                                help: "Sources with a penalty outstanding (per_source_penalties).", kind: .gauge,
                                samples: [.init(value: Double(admitted.penalised))]))
        out.append(MetricFamily(name: "portcullis_build_info", help: "The daemon's version and libssh's.",
                                kind: .gauge,
                                samples: [.init(labels: [("version", version), ("libssh", libssh)], value: 1)]))
        if let clusterRead {
            out.append(MetricFamily(name: "portcullis_cluster_connected",
                                    help: "1 while the policy follows etcd; 0 while etcd is unreachable (the last good policy stays).",
                                    kind: .gauge, samples: [.init(value: clusterRead() ? 1 : 0)]))
        }
        return out
    }

    /// The exposition of every family.
    public func render() -> String { PrometheusText.render(families()) }

    // MARK: - Helpers (under the lock)

    private func keyLabel(_ key: String?) -> [String] {
        perKey ? [key ?? ""] : []
    }

    /// A key's series at zero once its last session closed: dropped, so that keys come and go.
    private func dropZeros(_ key: [String]) {
        if sessionGauge[key] == 0 { sessionGauge[key] = nil }
        for (labels, value) in channelGauge where value == 0 && labels.last == key.last { channelGauge[labels] = nil }
    }

    private func gauge(_ name: String, _ help: String, _ values: [[String]: Double], labels: [String]) -> MetricFamily {
        MetricFamily(name: name, help: help, kind: .gauge, samples: Self.samples(values, labels: labels))
    }

    private func counter(_ name: String, _ help: String, _ values: [[String]: Double], labels: [String]) -> MetricFamily {
        MetricFamily(name: name, help: help, kind: .counter, samples: Self.samples(values, labels: labels))
    }

    /// One sample per label set, sorted by label values (a stable output).
    private static func samples(_ values: [[String]: Double], labels: [String]) -> [MetricFamily.Sample] {
        values.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { entry in
            MetricFamily.Sample(labels: Array(zip(labels, entry.key)).map { (name: $0.0, value: $0.1) }, value: entry.value)
        }
    }
}

/// The clock metrics measure with: monotonic nanoseconds.
public enum MetricsClock {
    public static var now: UInt64 { Monotonic.now }
}
