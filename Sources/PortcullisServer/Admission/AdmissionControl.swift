import Foundation
import PortcullisPolicy

/// Admission before authentication for the server: the accept thread asks it about every new
/// connection, sessions report when they authenticate or end unauthenticated. It keeps
/// ``StartupAdmission`` (the decisions) under a lock, and reports refusals and penalties to the
/// recorder (the audit log, which the daemon's log echoes), bounded by a ``RefusalReporter``.
final class AdmissionControl: @unchecked Sendable {
    /// A connection admitted and still unauthenticated: what it must report back.
    struct Slot {
        let control: AdmissionControl
        let startup: StartupAdmission.Startup
    }

    private let lock = NSLock()
    private var state: StartupAdmission
    private var reporter = RefusalReporter()
    private let recorder: any EventRecorder
    private let origin = Monotonic.now
    private let metrics: ServerMetrics?

    init(settings: StartupAdmission.Settings, recorder: any EventRecorder, metrics: ServerMetrics? = nil) {
        state = StartupAdmission(settings: settings)
        self.recorder = recorder
        self.metrics = metrics
        metrics?.sampleAdmission { [weak self] in self?.counts ?? (0, 0) }
    }

    /// Connections not yet authenticated, and sources with a penalty outstanding.
    var counts: (unauthenticated: Int, penalised: Int) {
        lock.lock()
        defer { lock.unlock() }
        let penalised = state.penalisedSources
        return (state.unauthenticated, penalised.ipv4 + penalised.ipv6)
    }

    /// Seconds since the control was made, on the monotonic clock.
    private var now: Double { Double(Monotonic.now - origin) / 1_000_000_000 }

    /// A connection just accepted from `client`: its slot if admitted (nil: admitted, but its
    /// address is not IP and it is not counted), or `.refused` once the refusal is reported.
    func admit(_ client: Endpoint) -> Admitted {
        guard let address = IPAddress(client.host, lenient: true) else { return .admitted(nil) }
        let roll = Int.random(in: 0..<100)
        lock.lock()
        let at = now
        let decision = state.connection(from: address, at: at, roll: roll)
        var also: Int?
        if case .refuse(let refusal) = decision {
            var always = false
            if case .penalised(_, _, _, true) = refusal { always = true }
            also = reporter.refused(kind: refusal.kind, always: always, at: at)
        }
        lock.unlock()
        switch decision {
        case .admit(let startup):
            return .admitted(Slot(control: self, startup: startup))
        case .refuse(let refusal):
            metrics?.connectionRefused(kind: refusal.kind)
            if let also {
                _ = recorder.record(.connectionRefused(client: client, reason: refusal.reason, alsoRefused: also))
            }
            return .refused
        }
    }

    enum Admitted {
        case admitted(Slot?)
        case refused
    }

    /// New limits (a reload).
    func update(_ settings: StartupAdmission.Settings) {
        lock.lock()
        state.update(settings)
        lock.unlock()
    }

    /// The connection of `startup` authenticated.
    func authenticated(_ startup: StartupAdmission.Startup) {
        lock.lock()
        state.authenticated(startup)
        lock.unlock()
    }

    /// The connection of `startup` ended unauthenticated, as `ending` says.
    func ended(_ startup: StartupAdmission.Startup, _ ending: StartupAdmission.Ending) {
        lock.lock()
        let penalised = state.ended(startup, ending, at: now)
        lock.unlock()
        if let penalised {
            _ = recorder.record(.sourcePenalised(client: penalised.address.description, source: penalised.source.description,
                                                 reason: penalised.reason, seconds: penalised.seconds))
        }
    }

    /// Writes a summary record for every kind of refusal whose interval ended with refusals not
    /// yet recorded. Returns when to call again (monotonic nanoseconds), if ever.
    func reportDue() -> UInt64? {
        lock.lock()
        let at = now
        let due = reporter.due(at: at)
        let next = reporter.nextDue
        lock.unlock()
        for (kind, count) in due {
            _ = recorder.record(.connectionRefused(client: nil, reason: "\(kind): connections refused at accept",
                                                   alsoRefused: count))
        }
        return next.map { origin + UInt64(max(0, $0) * 1_000_000_000) }
    }
}
