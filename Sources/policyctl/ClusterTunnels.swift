import ArgumentParser
import Foundation
import PortcullisCluster

/// `policyctl cluster tunnels`: the listens claimed and the names published in etcd, and who holds each.
struct ClusterTunnels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnels",
        abstract: "List the claimed listens and published names: kind, path, address or name, holding proxy, key, session, since.",
        discussion: """
            One row per claims/socket/REL_PATH (a Unix socket, by its path relative to \
            socket_root) and claims/tcp/HOST:PORT record under the cluster prefix, and one per \
            published name (names/NAME, shown as NAME:PORT, as a consumer opens it): the proxy \
            that serves it, the key and session that asked for it, and since when. A claim or \
            name lives under its proxy's lease and vanishes with it. A record that is not what \
            its key says is named on stderr.

            Example:
              policyctl cluster tunnels
              policyctl cluster tunnels --json

            Exit status: 0 shown; 1 etcd did not answer within --timeout, or a record is not a \
            claim record; 2 usage error, a config without cluster:.
            """
    )

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print the claims as JSON.") var json = false

    struct Report: Encodable {
        let prefix: String
        let revision: Int64
        let claims: [ClusterClaim]
    }

    func run() throws {
        let etcd = try cluster.connect()
        let prefix = etcd.prefix
        var problems: [RegistryRecordError] = []
        let base = prefix + "claims/"
        let (kvs, revision) = try etcd.read { try $0.range(prefix: base) }
        let (nameKVs, _) = try etcd.read { try $0.range(prefix: prefix + "names/") }
        var claims: [ClusterClaim] = []
        for kv in kvs {
            let place = "etcd:\(kv.keyString)"
            let rest = String(decoding: kv.key.dropFirst(base.utf8.count), as: UTF8.self)
            guard let slash = rest.firstIndex(of: "/"), case let kind = String(rest[..<slash]), ["socket", "tcp"].contains(kind),
                  case let target = String(rest[rest.index(after: slash)...]), !target.isEmpty else {
                problems.append(RegistryRecordError(place: place, reason: "not claims/socket/PATH or claims/tcp/HOST:PORT"))
                continue
            }
            do throws(RegistryRecordError) {
                claims.append(try ClusterRecords.claim(kv, kind: kind, target: target, place: place))
            } catch {
                problems.append(error)
            }
        }
        for kv in nameKVs {
            let place = "etcd:\(kv.keyString)"
            let name = String(decoding: kv.key.dropFirst((prefix + "names/").utf8.count), as: UTF8.self)
            do throws(RegistryRecordError) {
                claims.append(try ClusterRecords.name(kv, name: name, place: place))
            } catch {
                problems.append(error)
            }
        }
        let report = Report(prefix: prefix, revision: revision, claims: claims)
        if json {
            printSnakeCaseJSON(report)
        } else {
            print(report.claims.isEmpty ? "no claims under \(prefix)claims/ and no names under \(prefix)names/"
                  : "\(report.claims.count) claim\(report.claims.count == 1 ? "" : "s") under \(prefix)claims/ and \(prefix)names/:")
            if !report.claims.isEmpty {
                let rows = report.claims.map {
                    [$0.kind, $0.shownTarget, $0.proxy, $0.key, "\($0.session)", $0.since.map(ClusterTable.time) ?? "-"]
                }
                for line in ClusterTable.lines(["KIND", "PATH, ADDRESS OR NAME", "PROXY", "KEY", "SESSION", "SINCE"], rows,
                                               rightAligned: [4]) {
                    print("  " + line)
                }
            }
        }
        try finish(problems)
    }
}
