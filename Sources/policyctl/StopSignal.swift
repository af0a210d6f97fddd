import Foundation
import Synchronization

/// SIGINT and SIGTERM, noted instead of ending the process, so a long-running command can
/// finish its output and exit cleanly.
enum StopSignal {
    private static let received = Atomic<Int32>(0)

    /// From now on SIGINT and SIGTERM set ``isRaised`` (and interrupt a sleep).
    static func install() {
        for number in [SIGINT, SIGTERM] {
            _ = signal(number) { StopSignal.received.store($0, ordering: .relaxed) }
        }
    }

    static var isRaised: Bool { received.load(ordering: .relaxed) != 0 }
}
