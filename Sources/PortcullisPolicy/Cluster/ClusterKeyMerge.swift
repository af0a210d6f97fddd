import Foundation

/// Which key entries a cluster proxy puts in force when some of etcd's entries do not load
/// (per-entry fail-static): a pure function of the entries last in force and etcd's entries now.
///
/// - An entry deleted from etcd is gone: removals only take rights away and always apply.
/// - An entry that loads (and whose public key no other entry in force has) is in force as etcd says.
/// - An entry that does not load is refused: if it existed before, its last good version stays in
///   force (it never replaces it); a new one is left out (it grants nothing).
/// - An entry etcd has not changed since the last good policy, that no longer loads, means the main
///   file's settings changed under it: that is no per-entry matter and is thrown (the daemon then
///   refuses the reload as a whole, applying only the removals).
///
/// Unchanged entries are taken first, then the changed ones that load (in name order), then the
/// last good versions of the refused ones: a changed entry that takes a public key another entry
/// in force has is the one refused.
public struct ClusterKeyMerge: Sendable, Equatable {
    /// What became of a refused entry.
    public enum Outcome: Sendable, Equatable {
        /// Its last good version (at this mod_revision) stays in force.
        case keptLastGood(modRevision: Int64)
        /// It was not in force before (or its last good version cannot stay): it is left out.
        case leftOut
    }

    /// An entry of etcd's that is not in force as etcd has it.
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The entry's name (`zz` for `PREFIX/keys/zz`).
        public var name: String
        /// Why: each problem names `etcd:PREFIX/keys/NAME:LINE`.
        public var problems: [ConfigProblem]
        public var outcome: Outcome

        /// The problems, then what stays in force of it.
        public var description: String {
            problems.map(\.description).joined(separator: "; ") + " (" + outcomeText + ")"
        }

        /// `its last good version (mod_revision 7) stays in force` or `left out: it grants nothing`.
        public var outcomeText: String {
            switch outcome {
            case .keptLastGood(let revision): return "refused; its last good version (mod_revision \(revision)) stays in force"
            case .leftOut: return "refused; left out, it grants nothing"
            }
        }
    }

    /// The entries to put in force, by name: never one that does not load.
    public var documents: [KeyDocument]
    /// The entries of etcd's that are not in force as etcd has them, by name.
    public var refusals: [Refusal]
    /// The names in force before that etcd no longer has: removed.
    public var removed: [String]

    /// Whether everything etcd holds is in force as it holds it.
    public var isComplete: Bool { refusals.isEmpty }

    /// `lastGood`: the entries of the policy in force; `latest`: etcd's entries now; `socketRoot`:
    /// the main file's (as the loader checks paths against it). Throws the problems of entries
    /// unchanged since the last good policy that no longer load.
    public init(lastGood: [KeyDocument], latest: [KeyDocument], socketRoot: String?) throws(ConfigError) {
        let before = Dictionary(lastGood.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(latest.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var chosen: [String: KeyDocument] = [:]
        var keyHolders: [String: KeyEntry] = [:]   // public key blob -> the entry in force with it
        var refusals: [String: Refusal] = [:]

        /// The entry a document holds, or why it cannot be in force next to what is chosen so far.
        func admit(_ document: KeyDocument) -> [ConfigProblem] {
            let (entry, problems) = ClusterKeyMerge.parse(document, socketRoot: socketRoot)
            guard let entry, problems.isEmpty else { return problems }
            let blob = entry.key.canonicalBase64 ?? entry.key.base64
            if let holder = keyHolders[blob] {
                return [ConfigProblem(file: entry.location.file, line: entry.location.line, message:
                    "key \"\(entry.name)\" is the same public key (\(entry.key.fingerprint)) as key \"\(holder.name)\" at \(holder.location)")]
            }
            keyHolders[blob] = entry
            chosen[document.name] = document
            return []
        }

        let names = now.keys.sorted()
        let unchanged = names.filter { before[$0]?.bytes == now[$0]?.bytes }
        var settingsProblems: [ConfigProblem] = []
        for name in unchanged { settingsProblems += admit(now[name]!) }
        guard settingsProblems.isEmpty else { throw ConfigError(problems: settingsProblems) }
        let changed = names.filter { before[$0]?.bytes != now[$0]?.bytes }
        for name in changed {
            let problems = admit(now[name]!)
            if !problems.isEmpty { refusals[name] = Refusal(name: name, problems: problems, outcome: .leftOut) }
        }
        for name in changed where refusals[name] != nil {
            guard let old = before[name], admit(old).isEmpty else { continue }
            refusals[name]?.outcome = .keptLastGood(modRevision: old.modRevision)
        }
        documents = chosen.values.sorted { $0.name < $1.name }
        self.refusals = refusals.values.sorted { $0.name < $1.name }
        removed = before.keys.filter { now[$0] == nil }.sorted()
    }

    /// The entries in force after only the removals since `lastGood` (what a reload refused as a
    /// whole still applies), and the names removed.
    public static func removalsOnly(lastGood: [KeyDocument], latest: [KeyDocument]) -> (documents: [KeyDocument], removed: [String]) {
        let present = Set(latest.map(\.name))
        let kept = lastGood.filter { present.contains($0.name) }.sorted { $0.name < $1.name }
        return (kept, lastGood.map(\.name).filter { !present.contains($0) }.sorted())
    }

    /// One document parsed on its own, as the loader parses it.
    static func parse(_ document: KeyDocument, socketRoot: String?) -> (KeyEntry?, [ConfigProblem]) {
        var scratch = PolicyConfig(hostKeys: [], socketRoot: socketRoot ?? "/")
        let read = ConfigLoader.readKeyDocuments([document], socketRoot: socketRoot, into: &scratch)
        return (scratch.keys.first, read.problems)
    }
}
