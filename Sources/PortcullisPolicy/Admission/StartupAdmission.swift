/// Admission before authentication, as OpenSSH's sshd decides it (MaxStartups,
/// PerSourceMaxStartups, PerSourcePenalties), without sockets or clocks: it is told "a connection
/// from X at time T", "that connection authenticated", "that connection ended unauthenticated, like
/// this", and answers admit or refuse with a reason. Times are seconds on a monotonic clock.
///
/// Checked in OpenSSH's order: a penalised source is refused first, then a source over its
/// per-source limit, then MaxStartups' random early refusal (`roll`, 0..<100, is the dice).
public struct StartupAdmission: Sendable {
    /// What the limits are.
    public struct Settings: Sendable, Hashable {
        public var maxStartups: MaxStartups
        /// Unauthenticated connections one source may hold; nil: no limit.
        public var perSourceMaxStartups: Int?
        public var netBlockSize: NetBlockSize
        /// nil: penalties off.
        public var penalties: PenaltySettings?
        /// Sources never penalised.
        public var penaltyExempt: [IPNetwork]

        public init(maxStartups: MaxStartups = .standard, perSourceMaxStartups: Int? = Limits.defaultPerSourceMaxStartups,
                    netBlockSize: NetBlockSize = .standard, penalties: PenaltySettings? = PenaltySettings(),
                    penaltyExempt: [IPNetwork] = []) {
            self.maxStartups = maxStartups
            self.perSourceMaxStartups = perSourceMaxStartups
            self.netBlockSize = netBlockSize
            self.penalties = penalties
            self.penaltyExempt = penaltyExempt
        }

        public init(_ limits: Limits) {
            self.init(maxStartups: limits.maxStartups, perSourceMaxStartups: limits.perSourceMaxStartups,
                      netBlockSize: limits.perSourceNetBlockSize, penalties: limits.perSourcePenalties,
                      penaltyExempt: limits.perSourcePenaltyExemptList)
        }
    }

    /// An admitted, still unauthenticated connection; hand it back when it authenticates or ends.
    public struct Startup: Sendable, Hashable {
        public let id: UInt64
        public let address: IPAddress
        public let block: SourceBlock
    }

    /// Why a connection is refused.
    public enum Refusal: Sendable, Hashable {
        /// The source is penalised (`reason` is what it did) for `remaining` more seconds.
        /// `firstInPeriod`: the first refusal since the penalty took effect.
        case penalised(source: SourceBlock, reason: String, remaining: Double, firstInPeriod: Bool)
        /// The penalty table of the family is full and overflow is deny-all.
        case penaltyTableFull
        /// The source already holds `limit` unauthenticated connections.
        case perSource(source: SourceBlock, limit: Int)
        /// `count` unauthenticated connections were open: refused outright (`percent` 100) or by chance.
        case maxStartups(count: Int, percent: Int)

        /// A short name for the kind of refusal (for counting and rate-limiting its records).
        public var kind: String {
            switch self {
            case .penalised: "penalty"
            case .penaltyTableFull: "penalty-table-full"
            case .perSource: "per-source-max-startups"
            case .maxStartups: "max-startups"
            }
        }

        /// What the audit record and the log say.
        public var reason: String {
            switch self {
            case .penalised(let source, let reason, let remaining, _):
                "source \(source) is penalised (\(reason)): refused for another \(Int(remaining.rounded(.up)))s"
            case .penaltyTableFull:
                "too many penalised sources: refusing every connection until a penalty expires (overflow deny-all)"
            case .perSource(let source, let limit):
                "per_source_max_startups: source \(source) already holds \(limit) unauthenticated connections"
            case .maxStartups(let count, let percent):
                percent >= 100
                    ? "max_startups: \(count) unauthenticated connections open, refusing every new one"
                    : "max_startups: \(count) unauthenticated connections open, refused with probability \(percent)%"
            }
        }
    }

    public enum Decision: Sendable, Hashable {
        case admit(Startup)
        case refuse(Refusal)
    }

    /// How an unauthenticated connection ended.
    public enum Ending: Sendable, Hashable {
        /// After one or more failed authentication attempts (OpenSSH `authfail`).
        case authFailed
        /// login_grace_time ran out (`grace-exceeded`).
        case graceExceeded
        /// Without attempting authentication (`noauth`).
        case noAuth
        /// For a reason that is not the client's (the server stopping): no penalty.
        case serverStopped

        var penaltyReason: String {
            switch self {
            case .authFailed: "failed authentication"
            case .graceExceeded: "exceeded login_grace_time"
            case .noAuth: "connections without attempting authentication"
            case .serverStopped: ""
            }
        }
    }

    /// A source's penalty took effect: it is refused for `seconds` from now.
    public struct Penalised: Sendable, Hashable {
        public let source: SourceBlock
        public let address: IPAddress
        public let reason: String
        public let seconds: Double
    }

    public private(set) var settings: Settings
    /// Unauthenticated connections now.
    public private(set) var unauthenticated = 0
    private var perSource: [SourceBlock: Int] = [:]
    private var nextID: UInt64 = 0
    private var open: Set<UInt64> = []
    private var penalties4: PenaltyTable
    private var penalties6: PenaltyTable
    private var periods: UInt64 = 0

    public init(settings: Settings) {
        self.settings = settings
        let penalties = settings.penalties ?? PenaltySettings()
        penalties4 = PenaltyTable(capacity: penalties.maxSources4, overflow: penalties.overflow)
        penalties6 = PenaltyTable(capacity: penalties.maxSources6, overflow: penalties.overflow6)
    }

    /// Sources with a penalty outstanding (enforced or not yet), IPv4 and IPv6.
    public var penalisedSources: (ipv4: Int, ipv6: Int) { (penalties4.count, penalties6.count) }

    /// Unauthenticated connections `address`'s source holds now.
    public func unauthenticated(from address: IPAddress) -> Int {
        perSource[SourceBlock(address, sizes: settings.netBlockSize)] ?? 0
    }

    /// A new connection from `address` at `now`: admitted (and counted as unauthenticated until
    /// `authenticated` or `ended`) or refused.
    public mutating func connection(from address: IPAddress, at now: Double, roll: Int) -> Decision {
        let block = SourceBlock(address, sizes: settings.netBlockSize)
        if settings.penalties != nil, !isExempt(address) {
            if let refusal = penaltyRefusal(block, now: now) { return .refuse(refusal) }
        }
        let held = perSource[block] ?? 0
        if let limit = settings.perSourceMaxStartups, held >= limit {
            return .refuse(.perSource(source: block, limit: limit))
        }
        let percent = settings.maxStartups.refusalPercent(unauthenticated: unauthenticated)
        if percent >= 100 || roll < percent {
            return .refuse(.maxStartups(count: unauthenticated, percent: percent))
        }
        nextID += 1
        open.insert(nextID)
        unauthenticated += 1
        perSource[block] = held + 1
        return .admit(Startup(id: nextID, address: address, block: block))
    }

    /// The connection authenticated: it no longer counts against the limits and is never penalised.
    public mutating func authenticated(_ startup: Startup) {
        release(startup)
    }

    /// The connection ended without authenticating, as `ending` says, at `now`: its source is
    /// charged the penalty for it. Returns the penalty when it takes effect now.
    @discardableResult
    public mutating func ended(_ startup: Startup, _ ending: Ending, at now: Double) -> Penalised? {
        guard release(startup) else { return nil }
        return penalise(startup.address, block: startup.block, ending, now: now)
    }

    /// Changes the limits (a reload): connections open and penalties outstanding carry over
    /// (the penalty tables are cut to their new bounds); switched off, penalties are not enforced.
    public mutating func update(_ settings: Settings) {
        self.settings = settings
        let penalties = settings.penalties ?? PenaltySettings()
        penalties4.resize(capacity: penalties.maxSources4, overflow: penalties.overflow)
        penalties6.resize(capacity: penalties.maxSources6, overflow: penalties.overflow6)
    }

    // MARK: - Internals

    @discardableResult
    private mutating func release(_ startup: Startup) -> Bool {
        guard open.remove(startup.id) != nil else { return false }
        unauthenticated -= 1
        let left = (perSource[startup.block] ?? 1) - 1
        perSource[startup.block] = left > 0 ? left : nil
        return true
    }

    private func isExempt(_ address: IPAddress) -> Bool {
        settings.penaltyExempt.contains { $0.contains(address) }
    }

    private mutating func penaltyRefusal(_ block: SourceBlock, now: Double) -> Refusal? {
        let v4 = block.isIPv4
        var table = v4 ? penalties4 : penalties6
        defer { if v4 { penalties4 = table } else { penalties6 = table } }
        table.expire(now: now)
        if table.overflow == .denyAll && table.isFull { return .penaltyTableFull }
        guard var entry = table[block], entry.active else { return nil }
        let first = !entry.refusalRecorded
        if first {
            entry.refusalRecorded = true
            table[block] = entry
        }
        return .penalised(source: block, reason: entry.reason, remaining: entry.expiry - now, firstInPeriod: first)
    }

    private mutating func penalise(_ address: IPAddress, block: SourceBlock, _ ending: Ending, now: Double) -> Penalised? {
        guard let config = settings.penalties, !isExempt(address) else { return nil }
        let seconds: Int
        switch ending {
        case .authFailed: seconds = config.authFail
        case .graceExceeded: seconds = config.graceExceeded
        case .noAuth: seconds = config.noAuth
        case .serverStopped: seconds = 0
        }
        guard seconds > 0 else { return nil }
        let v4 = block.isIPv4
        var table = v4 ? penalties4 : penalties6
        defer { if v4 { penalties4 = table } else { penalties6 = table } }
        table.expire(now: now)
        let reason = ending.penaltyReason
        guard var entry = table[block] else {
            if table.isFull && table.overflow == .denyAll { return nil }
            let active = Double(seconds) > Double(config.min)
            periods += 1
            table[block] = PenaltyTable.Entry(expiry: now + Double(min(seconds, config.max)), active: active,
                                              reason: reason, period: periods, refusalRecorded: false)
            table.evictOverCapacity()
            guard active, let entry = table[block] else { return nil }
            return Penalised(source: block, address: address, reason: reason, seconds: entry.expiry - now)
        }
        entry.expiry = min(entry.expiry + Double(seconds), now + Double(config.max))
        entry.reason = reason
        var activated = false
        if !entry.active && entry.expiry - now > Double(config.min) {
            entry.active = true
            periods += 1
            entry.period = periods
            entry.refusalRecorded = false
            activated = true
        }
        table[block] = entry
        return activated ? Penalised(source: block, address: address, reason: reason, seconds: entry.expiry - now) : nil
    }
}
