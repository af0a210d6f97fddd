import PortcullisAudit

/// The files of one proxy's log, oldest first: one hash chain. `policyctl audit` given the logs
/// of several proxies reads them as several chains, merged in time order and verified each alone.
struct AuditLogChain: Equatable {
    /// The `proxy` of its records; nil for a log written before proxy ids.
    let proxy: String?
    var files: [String]

    /// How output names the chain: the proxy id, or the first file of a log without proxy ids.
    var name: String { proxy ?? "(no proxy id) \(files.first ?? "")" }

    /// Groups `files` (as given, oldest first within each proxy) by the proxy id of each file's
    /// first record, in the order the proxies first appear. Files from before proxy ids form one
    /// chain, as every file given did before; a file without a first record (empty, or not a
    /// record, which reading then reports) stays with the file given before it.
    static func group(_ files: [String]) throws(AuditError) -> [AuditLogChain] {
        var chains: [AuditLogChain] = []
        var previous: Int?
        for file in files {
            let index: Int
            switch try firstProxy(of: file) {
            case .none:
                index = previous ?? chains.firstIndex { $0.proxy == nil } ?? append(nil, to: &chains)
            case .some(let proxy):
                index = chains.firstIndex { $0.proxy == proxy } ?? append(proxy, to: &chains)
            }
            chains[index].files.append(file)
            previous = index
        }
        return chains
    }

    private static func append(_ proxy: String?, to chains: inout [AuditLogChain]) -> Int {
        chains.append(AuditLogChain(proxy: proxy, files: []))
        return chains.count - 1
    }

    /// The first record's `proxy`: `.some(nil)` for a record without one, nil when the file has no
    /// first record.
    private static func firstProxy(of file: String) throws(AuditError) -> String?? {
        let reader = AuditReader(files: [file])
        let line: AuditLine?
        do { line = try reader.nextLine() } catch {
            if case .lineTooLong = error { return nil }
            throw error
        }
        guard let line, let record = try? line.record() else { return nil }
        return .some(record.proxy)
    }
}
