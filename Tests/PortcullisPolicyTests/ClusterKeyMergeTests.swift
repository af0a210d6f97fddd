import Foundation
import Testing
@testable import PortcullisPolicy

/// Per-entry fail-static in cluster mode: which of etcd's entries are put in force when some do not
/// load (`ClusterKeyMerge`).
@Suite struct ClusterKeyMergeTests {
    /// A well-formed ssh-ed25519 key line whose key bytes derive from `seed`.
    static func keyLine(_ seed: Int) -> String {
        func string(_ bytes: [UInt8]) -> [UInt8] {
            let count = UInt32(bytes.count)
            return [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)] + bytes
        }
        let blob = string(Array("ssh-ed25519".utf8)) + string((0..<32).map { UInt8(truncatingIfNeeded: seed &* 37 &+ $0 &* 11) })
        return "ssh-ed25519 " + Data(blob).base64EncodedString()
    }

    static func document(_ name: String, _ text: String, revision: Int64 = 5) -> KeyDocument {
        KeyDocument(name: name, origin: KeyDocument.etcdOrigin(prefix: "/portcullis/", name: name), bytes: Array(text.utf8),
                    modRevision: revision)
    }

    /// The entry `name` with key `seed`, allowed to open localhost:PORT for each port.
    static func entry(_ name: String, seed: Int, ports: [Int], revision: Int64 = 5) -> KeyDocument {
        document(name, "name: \(name)\nkey: \(keyLine(seed))\npermit_open: [\(ports.map { "\"localhost:\($0)\"" }.joined(separator: ", "))]\n",
                 revision: revision)
    }

    static let broken = "name: zz\nkey: not a key\n"

    func merge(_ lastGood: [KeyDocument], _ latest: [KeyDocument]) throws -> ClusterKeyMerge {
        try ClusterKeyMerge(lastGood: lastGood, latest: latest, socketRoot: "/srv/portcullis")
    }

    func names(_ merge: ClusterKeyMerge) -> [String] { merge.documents.map(\.name) }

    @Test func everythingLoadsIsEtcdAsItIs() throws {
        let good = [Self.entry("alex", seed: 1, ports: [1]), Self.entry("blake", seed: 2, ports: [2])]
        let latest = [Self.entry("alex", seed: 1, ports: [1, 11], revision: 9), Self.entry("carol", seed: 3, ports: [3])]
        let merged = try merge(good, latest)
        #expect(merged.documents == latest)
        #expect(merged.refusals.isEmpty && merged.isComplete)
        #expect(merged.removed == ["blake"])
    }

    @Test func aBrokenEntryDoesNotKeepARemovedKeyAlive() throws {
        let good = [Self.entry("alex", seed: 1, ports: [1]), Self.entry("keep", seed: 2, ports: [2])]
        let merged = try merge(good, [Self.entry("keep", seed: 2, ports: [2]), Self.document("zz", Self.broken)])
        #expect(names(merged) == ["keep"])
        #expect(merged.removed == ["alex"])
        #expect(merged.refusals.map(\.name) == ["zz"])
        #expect(merged.refusals[0].outcome == .leftOut)
        #expect(merged.refusals[0].problems.first?.description.hasPrefix("etcd:/portcullis/keys/zz:2: ") == true,
                "\(merged.refusals)")
    }

    @Test func aValidChangeToAnotherKeyAppliesNextToABrokenEntry() throws {
        let good = [Self.entry("alex", seed: 1, ports: [1]), Self.entry("blake", seed: 2, ports: [2])]
        let changed = Self.entry("blake", seed: 2, ports: [22], revision: 8)
        let merged = try merge(good, [Self.entry("alex", seed: 1, ports: [1]), changed, Self.document("zz", Self.broken)])
        #expect(merged.documents == [Self.entry("alex", seed: 1, ports: [1]), changed])
        #expect(merged.refusals.map(\.name) == ["zz"])
    }

    @Test func aBrokenEditKeepsTheLastGoodVersionAndNeverWidens() throws {
        let old = Self.entry("alex", seed: 1, ports: [1], revision: 4)
        // The edit grants more but does not load: the old version stays, not the new one.
        let edit = Self.document("alex", "name: alex\nkey: \(Self.keyLine(1))\npermit_open: [\"localhost:1\", \"everywhere\"]\n", revision: 9)
        let merged = try merge([old], [edit])
        #expect(merged.documents == [old])
        #expect(merged.refusals.map(\.outcome) == [.keptLastGood(modRevision: 4)])
        #expect(merged.refusals[0].description.contains("etcd:/portcullis/keys/alex:3: "), "\(merged.refusals)")
        #expect(merged.refusals[0].description.contains("its last good version (mod_revision 4) stays in force"))
    }

    @Test func aBrokenNewEntryGrantsNothing() throws {
        let merged = try merge([], [Self.document("zz", Self.broken), Self.document("sub/x", "name: x\n"),
                                    Self.document("named", "name: other\nkey: \(Self.keyLine(5))\n")])
        #expect(merged.documents.isEmpty)
        #expect(merged.refusals.map(\.name) == ["named", "sub/x", "zz"])
        #expect(merged.refusals.allSatisfy { $0.outcome == .leftOut })
    }

    @Test func aChangedEntryTakingAKeyInForceIsTheOneRefused() throws {
        // "bob" is new with alex's public key; alex is unchanged and stays, bob is refused.
        let alex = Self.entry("alex", seed: 1, ports: [1])
        let merged = try merge([alex], [alex, Self.entry("bob", seed: 1, ports: [2])])
        #expect(merged.documents == [alex])
        #expect(merged.refusals.map(\.name) == ["bob"])
        #expect(merged.refusals[0].problems[0].message.contains("same public key"), "\(merged.refusals)")
        // An edit of zed taking alex's key: zed's last good version stays.
        let zed = Self.entry("zed", seed: 3, ports: [3], revision: 2)
        let taken = try merge([alex, zed], [alex, Self.entry("zed", seed: 1, ports: [3], revision: 7)])
        #expect(taken.documents == [alex, zed])
        #expect(taken.refusals.map(\.outcome) == [.keptLastGood(modRevision: 2)])
    }

    @Test func theLastGoodVersionOfARefusedEntryGivesWayToAValidChange() throws {
        // alex's edit is broken; carol, new, takes alex's old key: carol is etcd's and valid, so
        // alex's old version cannot stay next to it and is left out (never two keys alike).
        let alex = Self.entry("alex", seed: 1, ports: [1], revision: 3)
        let merged = try merge([alex], [Self.document("alex", "name: alex\nkey: \(Self.keyLine(1))\nbogus: 1\n"),
                                        Self.entry("carol", seed: 1, ports: [3])])
        #expect(names(merged) == ["carol"])
        #expect(merged.refusals.map(\.outcome) == [.leftOut])
    }

    @Test func anUnchangedEntryThatNoLongerLoadsIsNoPerEntryMatter() {
        // Same bytes as in force, refused now: the settings changed under it (socket_root).
        let socketEntry = Self.document("alex", "name: alex\nkey: \(Self.keyLine(1))\npermit_streamlocal_listen: [\"/srv/portcullis/%k/*.sock\"]\n")
        #expect(throws: ConfigError.self) {
            _ = try ClusterKeyMerge(lastGood: [socketEntry], latest: [socketEntry], socketRoot: "/elsewhere")
        }
    }

    @Test func removalsOnlyDropsWhatEtcdNoLongerHas() {
        let good = [Self.entry("alex", seed: 1, ports: [1]), Self.entry("blake", seed: 2, ports: [2])]
        let (documents, removed) = ClusterKeyMerge.removalsOnly(lastGood: good, latest: [Self.entry("blake", seed: 2, ports: [9])])
        #expect(documents == [good[1]])
        #expect(removed == ["alex"])
    }
}
