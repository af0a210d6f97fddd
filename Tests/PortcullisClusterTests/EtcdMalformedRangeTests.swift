import Foundation
import PortcullisCluster
import Testing

/// Red team: an answer to a range read that is not one (no revision, kvs that are not key-values)
/// is refused, never read as an empty range (a cluster policy with no keys, written to the snapshot).
@Suite struct EtcdMalformedRangeTests {
    static func answer(_ body: String) -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    @Test(arguments: [
        #"{"kvs": [1]}"#,
        #"{}"#,
        #"{"header": {"revision": "7"}, "kvs": [1]}"#,
        #"{"header": {"revision": "7"}, "kvs": [{"value": "eA=="}]}"#,
        #"{"header": {"revision": "7"}, "kvs": {"key": "eA=="}}"#,
    ])
    func aMalformedRangeAnswerIsRefused(body: String) throws {
        let server = try EndlessServer(head: Self.answer(body), filler: [])
        let client = try EtcdClient(endpoints: [server.endpoint], requestTimeout: 5)
        #expect {
            _ = try client.range(prefix: "/portcullis/keys/")
        } throws: { error in
            guard case .badResponse = error as? EtcdError else { return false }
            return true
        }
    }

    @Test func anEmptyRangeWithItsRevisionIsEmpty() throws {
        let server = try EndlessServer(head: Self.answer(#"{"header": {"revision": "7"}}"#), filler: [])
        let client = try EtcdClient(endpoints: [server.endpoint], requestTimeout: 5)
        let (kvs, revision) = try client.range(prefix: "/portcullis/keys/")
        #expect(kvs.isEmpty && revision == 7)
    }
}
