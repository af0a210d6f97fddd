import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

/// Answers that never end are refused at the limit, not buffered without bound.
@Suite(.serialized)
struct EtcdResponseLimitTests {
    static let limit = 256 * 1024

    @Test func anEndlessUnaryAnswerIsRefusedAtTheLimit() throws {
        let server = try EndlessServer(head: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
                                       filler: Array(repeating: UInt8(ascii: "x"), count: 8192))
        let client = try EtcdClient(endpoints: [server.endpoint], requestTimeout: 10, maxResponseBytes: Self.limit)
        #expect {
            _ = try client.get("k")
        } throws: { error in
            guard case let .responseTooLarge(endpoint, limit) = error as? EtcdError else { return false }
            return endpoint == server.endpoint && limit == Self.limit
        }
    }

    @Test func aWatchMessageThatNeverEndsIsRefusedAtTheLimit() throws {
        let server = try EndlessServer(head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       filler: Array("2000\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 0x2000)
                                           + Array("\r\n".utf8))
        let client = try EtcdClient(endpoints: [server.endpoint], requestTimeout: 10, maxResponseBytes: Self.limit)
        let errors = ErrorLog()
        let watch = EtcdWatch(client: client, prefix: "/w/", fromRevision: 1, retryDelay: 60,
                              onError: { errors.append($0) }) { _ in }
        defer { watch.cancel() }
        try waitUntil("the watch to refuse the message", seconds: 10) { !errors.items.isEmpty }
        guard case .responseTooLarge = errors.items[0] else {
            Issue.record("unexpected error \(errors.items[0])")
            return
        }
        // Refused near the limit: a few socket buffers' worth past it at most, not without bound.
        #expect(server.bytesSent < Self.limit + 8 * 1024 * 1024)
    }
}

final class ErrorLog: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [EtcdError] = []
    func append(_ error: EtcdError) { lock.withLock { errors.append(error) } }
    var items: [EtcdError] { lock.withLock { errors } }
}
