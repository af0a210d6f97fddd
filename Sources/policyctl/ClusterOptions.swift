import ArgumentParser
import Foundation
import PortcullisCluster
import PortcullisClusterPolicy
import PortcullisPolicy

/// The etcd a cluster command reads: from the config's cluster: section.
struct ClusterOptions: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Give up on etcd after this many seconds (over all endpoints).", valueName: "SECONDS"))
    var timeout: Double = 5

    func validate() throws {
        guard timeout > 0, timeout <= 300 else { throw ValidationError("--timeout must be more than 0 and at most 300 seconds") }
    }

    /// The cluster's etcd and key prefix, with --timeout starting now; a config without cluster:
    /// is a usage error.
    func connect() throws(Failure) -> ClusterReader {
        // The settings alone: the key entries (in etcd too) are not needed here.
        let config = try options.loadSettings()
        guard let cluster = config.cluster else {
            throw Failure.usage("\(options.config) has no cluster: section; policyctl cluster reads the cluster's etcd")
        }
        return ClusterReader(endpoints: cluster.etcdEndpoints, prefix: cluster.prefix,
                             timeout: timeout)
    }
}

/// etcd as a cluster command reads it: every request within what is left of one overall
/// deadline, shared among the endpoints.
struct ClusterReader {
    let endpoints: [EtcdEndpoint]
    let prefix: String
    let timeout: Double
    private let deadline: UInt64

    init(endpoints: [EtcdEndpoint], prefix: String, timeout: Double) {
        self.endpoints = endpoints
        self.prefix = prefix
        self.timeout = timeout
        deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
    }

    /// Runs `body` with a client whose requests end by the deadline; an etcd that does not answer
    /// in time fails naming it (exit 1).
    func read<T>(_ body: (EtcdClient) throws -> T) throws -> T {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < deadline else { throw Failure.refused("cannot read the cluster from etcd: no answer within --timeout \(timeout) s") }
        do {
            let left = Double(deadline - now) / 1e9
            return try body(try EtcdClient(endpoints: endpoints, requestTimeout: left / Double(max(1, endpoints.count))))
        } catch let error as EtcdError {
            throw Failure.refused("cannot read the cluster from etcd: \(error)")
        }
    }
}

/// One table of plain rows: columns as wide as their widest cell, two spaces apart.
enum ClusterTable {
    static func lines(_ titles: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        let all = [titles] + rows.map { $0.map(TerminalText.visible) }
        let widths = titles.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            var line = row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return rightAligned.contains(column) ? padding + row[column] : row[column] + padding
            }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    /// An RFC 3339 time as `2026-12-02 03:10:00`; anything else as it is.
    static func time(_ text: String) -> String {
        guard RFC3339.date(from: text) != nil, text.count >= 19 else { return text }
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }
}
