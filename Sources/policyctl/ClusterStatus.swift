import ArgumentParser
import Foundation
import PortcullisCluster

/// `policyctl cluster status`: the members registered in etcd, with their leases.
struct ClusterStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List the cluster's members: proxy id, advertised address, sessions, lease age and TTL left, start time.",
        discussion: """
            One row per members/PROXY_ID record under the cluster prefix. LEASE AGE is the time \
            since the member last renewed its lease (at most a third of the TTL while it is \
            healthy); TTL LEFT is how long the lease has before it expires, out of its TTL. A \
            member whose lease expired is gone, with its claims. SESSIONS is the count the member \
            last wrote. A record that is not a member record is named on stderr.

            Example:
              policyctl cluster status
              policyctl cluster status --json --config /etc/portcullis/portcullis.yaml

            Exit status: 0 shown; 1 etcd did not answer within --timeout, or a record is not a \
            member record; 2 usage error, a config without cluster:.
            """
    )

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print the members as JSON.") var json = false

    struct Report: Encodable {
        let prefix: String
        let revision: Int64
        let members: [ClusterMember]
    }

    func run() throws {
        let etcd = try cluster.connect()
        let prefix = etcd.prefix
        var problems: [RegistryRecordError] = []
        let (kvs, revision) = try etcd.read { try $0.range(prefix: prefix + "members/") }
        var leases: [LeaseID: LeaseTimeToLive?] = [:]
        var members: [ClusterMember] = []
        for kv in kvs {
            let id = String(decoding: kv.key.dropFirst(prefix.utf8.count + "members/".utf8.count), as: UTF8.self)
            var lease: LeaseTimeToLive?
            if let leaseID = kv.lease {
                if leases[leaseID] == nil { leases[leaseID] = .some(try etcd.read { try $0.leaseTimeToLive(leaseID) }) }
                // Expired since the read: the member is gone.
                guard let known = leases[leaseID] ?? nil else { continue }
                lease = known
            }
            do throws(RegistryRecordError) {
                members.append(try ClusterRecords.member(kv, id: id, place: "etcd:\(kv.keyString)", lease: lease))
            } catch {
                problems.append(error)
            }
        }
        let report = Report(prefix: prefix, revision: revision, members: members)
        if json {
            printSnakeCaseJSON(report)
        } else {
            print(report.members.isEmpty ? "no members under \(prefix)members/"
                  : "\(report.members.count) member\(report.members.count == 1 ? "" : "s") under \(prefix)members/:")
            if !report.members.isEmpty {
                let rows = report.members.map { member in
                    [member.proxy, member.advertise, "\(member.sessions)",
                     member.lease.map { "\($0.renewedAgo)s" } ?? "no lease",
                     member.lease.map { "\($0.ttlLeft)s/\($0.grantedTtl)s" } ?? "-",
                     ClusterTable.time(member.started)]
                }
                for line in ClusterTable.lines(["PROXY", "ADVERTISE", "SESSIONS", "LEASE AGE", "TTL LEFT", "STARTED"], rows,
                                               rightAligned: [2]) {
                    print("  " + line)
                }
            }
        }
        try finish(problems)
    }
}

/// Prints `value` as indented JSON with sorted, snake_case keys (as etcd's records name them).
func printSnakeCaseJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    print(String(decoding: data, as: UTF8.self))
}

/// Names each record that was not what its key says on stderr; exit 1 if there was any.
func finish(_ problems: [RegistryRecordError]) throws {
    guard !problems.isEmpty else { return }
    StandardOutput.flush()
    for problem in problems {
        FileHandle.standardError.write(Data("policyctl: \(TerminalText.visible(problem.description))\n".utf8))
    }
    throw ExitCode(1)
}
