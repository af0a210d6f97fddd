import ArgumentParser
import Foundation
import PortcullisCluster
import PortcullisPolicy

/// The etcd a cluster command reads: from the config's cluster: section.
struct ClusterOptions: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Give up on etcd after this many seconds (over all endpoints).", valueName: "SECONDS"))
    var timeout: Double = 5

    func validate() throws {
        guard timeout > 0, timeout <= 300 else { throw ValidationError("--timeout must be more than 0 and at most 300 seconds") }
    }

    /// The etcd client and the key prefix; a config without cluster: is a usage error.
    func connect() throws(Failure) -> (client: EtcdClient, prefix: String) {
        let config = try options.load()
        guard let cluster = config.cluster else {
            throw Failure.usage("\(options.config) has no cluster: section; policyctl cluster reads the cluster's etcd")
        }
        let endpoints = cluster.etcd.map { EtcdEndpoint(host: $0.host, port: $0.port) }
        do {
            let client = try EtcdClient(endpoints: endpoints, requestTimeout: timeout / Double(max(1, endpoints.count)))
            return (client, cluster.prefix)
        } catch {
            throw Failure.usage("\(options.config): cluster.etcd: \(error)")
        }
    }

    /// Runs `body` against etcd; an etcd that does not answer fails naming it (exit 1).
    func reading<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as EtcdError {
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
