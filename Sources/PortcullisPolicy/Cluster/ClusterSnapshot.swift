import Foundation

/// The key entries a proxy last applied from etcd and the store revision they were read at, kept on
/// disk so that a proxy started while etcd is unreachable serves the last good policy (fail-static).
///
/// The file is JSON: `{"format": "portcullis-policy-snapshot/1", "prefix": ..., "revision": R,
/// "written": RFC3339, "keys": [{"name": ..., "mod_revision": ..., "value": BASE64}]}`; each value is
/// kept byte for byte (base64), never re-encoded.
public struct ClusterSnapshot: Sendable, Equatable {
    public static let format = "portcullis-policy-snapshot/1"
    /// The most a snapshot file may hold (10,000 keys of 1 MiB each would not fit; 10,000 real ones do).
    public static let sizeLimit = 256 << 20

    /// The cluster prefix the keys were read under (`/portcullis/`).
    public var prefix: String
    /// The etcd revision the keys are as of.
    public var revision: Int64
    /// When it was written.
    public var written: Date
    public var documents: [KeyDocument]

    public init(prefix: String, revision: Int64, written: Date = Date(), documents: [KeyDocument]) {
        self.prefix = prefix
        self.revision = revision
        self.written = written
        self.documents = documents.sorted { $0.name < $1.name }
    }

    /// Why a snapshot file cannot be used.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The file's layout.
    private struct File: Codable {
        struct Key: Codable {
            let name: String
            let mod_revision: Int64
            let value: String
        }

        let format: String
        let prefix: String
        let revision: Int64
        let written: String
        let keys: [Key]
    }

    /// The JSON text of the file.
    public func encoded() -> Data {
        let file = File(format: Self.format, prefix: prefix, revision: revision, written: Expiry.text(written),
                        keys: documents.map { .init(name: $0.name, mod_revision: $0.modRevision,
                                                    value: Data($0.bytes).base64EncodedString()) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(file)) ?? Data()) + Data("\n".utf8)
    }

    /// Parses the file's text; `path` only names it in the errors.
    public init(decoding data: Data, path: String) throws(Failure) {
        func bad(_ why: String) -> Failure { Failure(description: "snapshot \(path): \(why)") }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw bad("not a policy snapshot (\(error))")
        }
        guard file.format == Self.format else { throw bad("format \"\(file.format)\", expected \"\(Self.format)\"") }
        guard file.revision > 0 else { throw bad("revision \(file.revision): expected a positive etcd revision") }
        guard let written = RFC3339.date(from: file.written) else { throw bad("written \"\(file.written)\": expected an RFC 3339 time") }
        var documents: [KeyDocument] = []
        for (index, key) in file.keys.enumerated() {
            guard let value = Data(base64Encoded: key.value) else { throw bad("keys[\(index)] (\(key.name)): value is not base64") }
            documents.append(KeyDocument(name: key.name, origin: KeyDocument.etcdOrigin(prefix: file.prefix, name: key.name),
                                         bytes: [UInt8](value), modRevision: key.mod_revision))
        }
        self.init(prefix: file.prefix, revision: file.revision, written: written, documents: documents)
    }

    /// Writes the snapshot to `path` atomically (temporary file, fsync, rename), mode 0600.
    public func write(to path: String) throws(Failure) {
        do {
            try AtomicFile.write(encoded(), to: path, mode: 0o600)
        } catch {
            throw Failure(description: "cannot write the snapshot: \(error)")
        }
    }

    /// Reads the snapshot at `path` (a regular file, not followed through a link).
    public static func read(from path: String) throws(Failure) -> ClusterSnapshot {
        switch ConfigFileReader.read(path, limit: sizeLimit, links: .refuse) {
        case .failure(let problem): throw Failure(description: "snapshot \(path): \(problem.message)")
        case .success(let bytes): return try ClusterSnapshot(decoding: Data(bytes), path: path)
        }
    }
}
