import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy
import PortcullisTestSupport
import Testing

/// Cluster mode's policy source (issue 14 item 1): key entries from documents (the loader), the
/// snapshot, compare-and-swap writes and the watch, against a real etcd.
@Suite(.serialized)
struct ClusterPolicyTests {
    /// A well-formed ssh-ed25519 key line whose key bytes derive from `seed`.
    static func keyLine(_ seed: Int) -> String {
        func string(_ bytes: [UInt8]) -> [UInt8] {
            let count = UInt32(bytes.count)
            return [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)] + bytes
        }
        let blob = string(Array("ssh-ed25519".utf8)) + string((0..<32).map { UInt8(truncatingIfNeeded: seed &* 37 &+ $0 &* 11) })
        return "ssh-ed25519 " + Data(blob).base64EncodedString()
    }

    static func entry(_ name: String, seed: Int, extra: String = "") -> [UInt8] {
        Array("name: \(name)\nkey: \(keyLine(seed))\npermit_open: [\"localhost:\(1000 + seed)\"]\n\(extra)".utf8)
    }

    static func document(_ name: String, _ bytes: [UInt8], revision: Int64 = 5) -> KeyDocument {
        KeyDocument(name: name, origin: KeyDocument.etcdOrigin(prefix: "/portcullis/", name: name), bytes: bytes,
                    modRevision: revision)
    }

    /// A main file with the settings and no keys.
    static func mainFile(_ directory: TemporaryDirectory) throws -> String {
        try directory.write("portcullis.yaml", "host_keys: [host_key]\nsocket_root: \(directory.path)/sockets\n")
    }

    @Test func theLoaderBuildsThePolicyFromKeyDocuments() throws {
        let directory = try TemporaryDirectory()
        let config = try ConfigLoader.load(path: try Self.mainFile(directory), keyDocuments: [
            Self.document("blake", Self.entry("blake", seed: 2)), Self.document("alex", Self.entry("alex", seed: 1)),
        ])
        #expect(config.keys.map(\.name) == ["alex", "blake"])
        #expect(config.keys[0].location.description == "etcd:/portcullis/keys/alex:1")
        let decision = Policy(config: config).decide(.tcpOpen(host: "localhost", port: 1001), key: config.keys[0], user: "alex")
        #expect(decision.isAllowed)
        // The digest tells policies apart by the entries' bytes.
        let other = try ConfigLoader.load(path: config.files[0], keyDocuments: [Self.document("alex", Self.entry("alex", seed: 1, extra: "# changed\n"))])
        #expect(other.digest != config.digest)
    }

    @Test func aBadKeyDocumentIsNamedByItsEtcdKeyAndLine() throws {
        let directory = try TemporaryDirectory()
        let main = try Self.mainFile(directory)
        let problems: [String]
        do {
            _ = try ConfigLoader.load(path: main, keyDocuments: [
                Self.document("alex", Self.entry("alex", seed: 1, extra: "permit_listen: [\"nonsense:port\"]\n")),
                Self.document("carol", Self.entry("dana", seed: 3)),
                Self.document("eve", Self.entry("eve", seed: 1)),
                Self.document("sub/x", Self.entry("x", seed: 9)),
                Self.document("yaml", Array("name: [unclosed\n".utf8)),
            ])
            Issue.record("loaded")
            return
        } catch {
            problems = error.problems.map(\.description)
        }
        #expect(problems.contains { $0.hasPrefix("etcd:/portcullis/keys/alex:4: permit_listen[0] \"nonsense:port\"") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("etcd:/portcullis/keys/carol:1: name \"dana\" differs from the entry's key \"carol\"") }, "\(problems)")
        #expect(problems.contains { $0.contains("etcd:/portcullis/keys/eve:1: key \"eve\" is the same public key") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("etcd:/portcullis/keys/sub/x: key name \"sub/x\"") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("etcd:/portcullis/keys/yaml:") && $0.contains("YAML") }, "\(problems)")
    }

    @Test func theSnapshotKeepsEveryByteAndTheRevision() throws {
        let directory = try TemporaryDirectory()
        let odd: [UInt8] = Array("name: alex\r\nkey: \(Self.keyLine(1))\n# caf\u{e9} \u{1F511}\n".utf8)
        let snapshot = ClusterSnapshot(prefix: "/portcullis/", revision: 42,
                                       written: Date(timeIntervalSince1970: 1_800_000_000),
                                       documents: [Self.document("zed", Self.entry("zed", seed: 4), revision: 40),
                                                   Self.document("alex", odd, revision: 41)])
        let path = directory.file("cluster.snapshot")
        try snapshot.write(to: path)
        let read = try ClusterSnapshot.read(from: path)
        #expect(read == snapshot)
        #expect(read.documents.map(\.name) == ["alex", "zed"])
        #expect(read.documents[0].bytes == odd && read.documents[0].origin == "etcd:/portcullis/keys/alex")
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        // A damaged file is refused by name, never half-read.
        _ = try directory.write("bad.snapshot", "{\"format\": \"portcullis-policy-snapshot/1\", \"prefix\": \"/p/\"")
        #expect(throws: ClusterSnapshot.Failure.self) { try ClusterSnapshot.read(from: directory.file("bad.snapshot")) }
    }

    @Test func writesAreCompareAndSwapOnTheRevisionRead() throws {
        let etcd = try EtcdServer()
        let store = ClusterKeyStore(client: try EtcdClient(urls: [etcd.url]), prefix: "/portcullis/")
        guard case .written = try store.create("alex", Self.entry("alex", seed: 1)) else { Issue.record("first create"); return }
        // A second creator of the same name loses.
        let second = try store.create("alex", Self.entry("alex", seed: 2))
        let (documents, _) = try store.read()
        #expect(documents.count == 1 && documents[0].bytes == Self.entry("alex", seed: 1))
        #expect(second == .conflict(currentRevision: documents[0].modRevision))
        // Two writers read the same revision: the first wins, the second is told, nothing is lost.
        let read = documents[0].modRevision
        guard case .written(let after) = try store.replace("alex", Self.entry("alex", seed: 3), modRevision: read) else {
            Issue.record("first replace"); return
        }
        #expect(try store.replace("alex", Self.entry("alex", seed: 4), modRevision: read) == .conflict(currentRevision: after))
        #expect(try store.delete("alex", modRevision: read) == .conflict(currentRevision: after))
        #expect(try store.read().documents[0].bytes == Self.entry("alex", seed: 3))
        guard case .written = try store.delete("alex", modRevision: after) else { Issue.record("delete"); return }
        #expect(try store.read().documents.isEmpty)
        #expect(try store.delete("alex", modRevision: after) == .conflict(currentRevision: 0))
    }

    @Test func theSourceFollowsEtcdStaysStaticWithoutItAndStartsFromItsSnapshot() throws {
        let etcd = try EtcdServer()
        let directory = try TemporaryDirectory()
        let client = try EtcdClient(urls: [etcd.url], requestTimeout: 1)
        let store = ClusterKeyStore(client: client, prefix: "/portcullis/")
        _ = try store.create("alex", Self.entry("alex", seed: 1))
        let snapshotPath = directory.file("cluster.snapshot")
        let recorder = Recorder()
        let source = ClusterPolicySource(store: store, snapshotPath: snapshotPath, retryDelay: 0.2) { recorder.note("log: \($0)") }
        defer { source.stop() }
        #expect(try source.begin().hasPrefix("policy from etcd at revision"))
        source.run(apply: { what in
            recorder.note("apply: \(what)")
            // What is put in force is handed back (the daemon's reload hands back the entries that load).
            guard !source.documents.contains(where: { $0.name == "refused" }) else { return false }
            source.adopt(source.documents)
            return true
        }, events: { recorder.note("event: \($0)") })
        try waitUntil("the first snapshot", seconds: 5) { (try? ClusterSnapshot.read(from: snapshotPath))?.documents.count == 1 }

        // A change reaches apply within a second, and the snapshot follows.
        let start = Date()
        _ = try store.create("blake", Self.entry("blake", seed: 2))
        try waitUntil("the put applied", seconds: 1) { recorder.lines.contains { $0.contains("put of /portcullis/keys/blake") } }
        #expect(Date().timeIntervalSince(start) < 1)
        try waitUntil("the snapshot with blake", seconds: 2) {
            (try? ClusterSnapshot.read(from: snapshotPath))?.documents.map(\.name) == ["alex", "blake"]
        }
        // A refused change leaves the snapshot at the last good policy.
        _ = try store.create("refused", Self.entry("refused", seed: 5))
        try waitUntil("the refused put seen", seconds: 1) { recorder.lines.contains { $0.contains("keys/refused") } }
        usleep(200_000)
        #expect((try ClusterSnapshot.read(from: snapshotPath)).documents.map(\.name) == ["alex", "blake"])
        let refusedRevision = try #require(try store.read().documents.first { $0.name == "refused" }).modRevision
        _ = try store.delete("refused", modRevision: refusedRevision)
        try waitUntil("the delete applied", seconds: 1) { recorder.lines.contains { $0.contains("delete of /portcullis/keys/refused") } }

        // etcd gone: one disconnected event; the entries stay.
        etcd.kill()
        try waitUntil("the disconnection", seconds: 5) { recorder.lines.contains { $0.hasPrefix("event: disconnected") } }
        #expect(!source.current.connected && source.documents.map(\.name) == ["alex", "blake"])

        // A second source started meanwhile starts from the snapshot, and says so.
        let late = ClusterPolicySource(store: store, snapshotPath: snapshotPath, retryDelay: 0.2) { _ in }
        defer { late.stop() }
        let said = try late.begin()
        #expect(said.contains("etcd is unreachable") && said.contains("snapshot \(snapshotPath)"), "\(said)")
        #expect(late.documents.map(\.name) == ["alex", "blake"] && !late.current.connected)
        // Without a snapshot, no start.
        let none = ClusterPolicySource(store: store, snapshotPath: directory.file("missing"), retryDelay: 0.2) { _ in }
        #expect(throws: ClusterPolicySource.Failure.self) { try none.begin() }

        // etcd back: connected again, re-read at the current revision, then watching again.
        try etcd.start()
        try waitUntil("the reconnection", seconds: 5) { recorder.lines.contains { $0.hasPrefix("event: connected") } }
        _ = try store.create("carol", Self.entry("carol", seed: 3))
        try waitUntil("a put after the reconnection", seconds: 1) { recorder.lines.contains { $0.contains("keys/carol") } }
        #expect(source.current.connected && source.documents.map(\.name) == ["alex", "blake", "carol"])
    }
}

/// Lines noted from other threads.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var noted: [String] = []
    func note(_ line: String) { lock.withLock { noted.append(line) } }
    var lines: [String] { lock.withLock { noted } }
}
