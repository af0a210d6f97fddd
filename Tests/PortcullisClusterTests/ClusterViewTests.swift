import Foundation
import PortcullisCluster
import PortcullisTestSupport
import Testing

/// The policyctl built next to this test bundle.
private let policyctlBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/debug/policyctl").path

/// `policyctl cluster status` and `tunnels` against a real etcd, whose member and claim records
/// the test writes itself, under leases, as the proxies would.
@Suite(.serialized)
struct ClusterViewTests {
    static let prefix = "/pc-view/"
    let scratch: TemporaryDirectory

    init() throws { scratch = try TemporaryDirectory() }

    /// A config whose cluster: section names `endpoints` and the test's prefix.
    func config(_ endpoints: [String], prefix: String = ClusterViewTests.prefix) throws -> String {
        let list = endpoints.map { "\"\($0)\"" }.joined(separator: ", ")
        return try scratch.write("portcullis.yaml", """
            listen: ["127.0.0.1:2222"]
            host_keys: ["\(scratch.file("host_key"))"]
            socket_root: \(scratch.file("sockets"))
            audit_log: off
            proxy_id: viewer
            cluster:
              etcd: [\(list)]
              prefix: \(prefix)

            """)
    }

    func policyctl(_ arguments: [String], config: String) throws -> ProcessResult {
        try run(policyctlBinary, ["cluster"] + arguments + ["--config", config])
    }

    static func member(_ advertise: String, sessions: Int, started: String) -> String {
        #"{"advertise":"\#(advertise)","host_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnownHostKeyForTheTest","sessions":\#(sessions),"started":"\#(started)"}"#
    }

    static func claim(_ proxy: String, session: Int, key: String, since: String) -> String {
        #"{"proxy":"\#(proxy)","session":\#(session),"key":"\#(key)","since":"\#(since)"}"#
    }

    /// The JSON object policyctl printed.
    func object(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    @Test func statusListsTheMembersWithTheirLeasesAndOneWhoseLeaseExpiredIsGone() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let kept = try client.grantLease(ttl: 30)
        let dying = try client.grantLease(ttl: 2)
        try client.put(Self.prefix + "members/proxy-a", Self.member("127.0.0.1:2201", sessions: 3, started: "2026-12-02T03:00:00.125Z"), lease: kept)
        try client.put(Self.prefix + "members/proxy-b", Self.member("127.0.0.1:2202", sessions: 0, started: "2026-12-02T03:05:00.000Z"), lease: dying)
        // Another cluster's member under another prefix is not ours.
        try client.put("/other/members/proxy-z", Self.member("127.0.0.1:2299", sessions: 9, started: "2026-12-02T03:00:00Z"), lease: kept)
        let config = try config([etcd.url])

        let table = try policyctl(["status"], config: config)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(table.stdout)")
        #expect(lines[0] == "2 members under /pc-view/members/:")
        #expect(lines[1] == "  PROXY    ADVERTISE       SESSIONS  LEASE AGE  TTL LEFT  STARTED")
        #expect(lines[2].hasPrefix("  proxy-a  127.0.0.1:2201         3  "), "\(lines[2])")
        #expect(lines[2].hasSuffix("s/30s   2026-12-02 03:00:00"), "\(lines[2])")
        #expect(lines[3].hasPrefix("  proxy-b  127.0.0.1:2202         0  "), "\(lines[3])")
        #expect(!table.stdout.contains("proxy-z"))

        let json = try object(try policyctl(["status", "--json"], config: config))
        let members = try #require(json["members"] as? [[String: Any]])
        #expect(members.map { $0["proxy"] as? String } == ["proxy-a", "proxy-b"])
        #expect(members[0]["advertise"] as? String == "127.0.0.1:2201")
        #expect(members[0]["host_key"] as? String == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnownHostKeyForTheTest")
        #expect(members[0]["sessions"] as? Int == 3)
        #expect(members[0]["started"] as? String == "2026-12-02T03:00:00.125Z")
        let lease = try #require(members[0]["lease"] as? [String: Any])
        #expect(lease["id"] as? String == String(kept.rawValue))
        #expect(lease["granted_ttl"] as? Int == 30)
        #expect((25...30).contains(lease["ttl_left"] as? Int ?? -1))
        #expect((0...5).contains(lease["renewed_ago"] as? Int ?? -1))
        #expect(json["prefix"] as? String == Self.prefix)

        // proxy-b stops renewing its lease (it died): once etcd expires it, proxy-b is gone.
        try waitUntil("proxy-b's lease to expire", seconds: 15) { try client.leaseTimeToLive(dying) == nil }
        let after = try policyctl(["status"], config: config)
        #expect(after.status == 0)
        #expect(after.stdout.hasPrefix("1 member under /pc-view/members/:\n"))
        #expect(after.stdout.contains("proxy-a") && !after.stdout.contains("proxy-b"))
        try client.revoke(kept)
        let none = try policyctl(["status"], config: config)
        #expect(none.status == 0)
        #expect(none.stdout == "no members under /pc-view/members/\n")
    }

    @Test func tunnelsListTheClaimsAndWhoHoldsThem() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        let a = try client.grantLease(ttl: 30)
        let b = try client.grantLease(ttl: 2)
        try client.put(Self.prefix + "claims/socket/alex/web.sock", Self.claim("proxy-a", session: 1042, key: "alex", since: "2026-12-02T03:01:02.500Z"), lease: a)
        try client.put(Self.prefix + "claims/tcp/localhost:8080", Self.claim("proxy-b", session: 7, key: "blake", since: "2026-12-02T03:02:00Z"), lease: b)
        try client.put(Self.prefix + "names/alex-ssh", #"{"key":"alex","port":22,"proxy":"proxy-a","session":1043}"#, lease: a)
        let config = try config([etcd.url])

        let table = try policyctl(["tunnels"], config: config)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout == """
            3 claims under /pc-view/claims/ and /pc-view/names/:
              KIND    PATH, ADDRESS OR NAME  PROXY    KEY    SESSION  SINCE
              socket  alex/web.sock          proxy-a  alex      1042  2026-12-02 03:01:02
              tcp     localhost:8080         proxy-b  blake        7  2026-12-02 03:02:00
              name    alex-ssh:22            proxy-a  alex      1043  -

            """)
        let json = try object(try policyctl(["tunnels", "--json"], config: config))
        let claims = try #require(json["claims"] as? [[String: Any]])
        #expect(claims.count == 3)
        #expect(claims[2]["kind"] as? String == "name" && claims[2]["target"] as? String == "alex-ssh")
        #expect(claims[2]["port"] as? Int == 22 && claims[2]["since"] == nil)
        #expect(claims[0]["kind"] as? String == "socket" && claims[0]["target"] as? String == "alex/web.sock")
        #expect(claims[0]["proxy"] as? String == "proxy-a" && claims[0]["key"] as? String == "alex")
        #expect(claims[0]["session"] as? Int == 1042 && claims[0]["since"] as? String == "2026-12-02T03:01:02.500Z")
        #expect(claims[0]["lease"] as? String == String(a.rawValue))
        #expect(claims[1]["kind"] as? String == "tcp" && claims[1]["target"] as? String == "localhost:8080")

        // proxy-b's lease expires: its claim goes with it.
        try waitUntil("proxy-b's lease to expire", seconds: 15) { try client.leaseTimeToLive(b) == nil }
        let after = try policyctl(["tunnels"], config: config)
        #expect(after.stdout.hasPrefix("2 claims under /pc-view/claims/ and /pc-view/names/:\n"))
        #expect(after.stdout.contains("alex/web.sock") && !after.stdout.contains("localhost:8080"))
    }

    @Test func aRecordThatIsNotWhatItsKeySaysIsNamedAndTheRestShown() throws {
        let etcd = try EtcdServer()
        let client = try EtcdClient(urls: [etcd.url])
        try client.put(Self.prefix + "members/proxy-a", Self.member("127.0.0.1:2201", sessions: 1, started: "2026-12-02T03:00:00Z"))
        try client.put(Self.prefix + "members/proxy-c", "not json")
        try client.put(Self.prefix + "members/proxy-d", #"{"advertise":"x:1","host_key":"k","started":"t","sessions":"many"}"#)
        try client.put(Self.prefix + "members/bad/id", Self.member("127.0.0.1:2209", sessions: 1, started: "2026-12-02T03:00:00Z"))
        try client.put(Self.prefix + "claims/socket/alex/web.sock", Self.claim("proxy-a", session: 1, key: "alex", since: "2026-12-02T03:00:00Z"))
        try client.put(Self.prefix + "claims/udp/localhost:53", Self.claim("proxy-a", session: 1, key: "alex", since: "2026-12-02T03:00:00Z"))
        try client.put(Self.prefix + "claims/tcp/localhost:80", #"{"proxy":"proxy-a","session":1,"since":"t"}"#)
        try client.put(Self.prefix + "names/web", #"{"key":"alex","port":70000,"proxy":"proxy-a","session":1}"#)
        let config = try config([etcd.url])

        let status = try policyctl(["status"], config: config)
        #expect(status.status == 1)
        #expect(status.stdout.contains("  proxy-a  127.0.0.1:2201") && status.stdout.hasPrefix("1 member under"))
        // A member without a lease does not vanish with its proxy: said so.
        #expect(status.stdout.contains("no lease"))
        #expect(status.stderr.contains("policyctl: etcd:/pc-view/members/proxy-c: the value is not JSON"), "\(status.stderr)")
        #expect(status.stderr.contains("policyctl: etcd:/pc-view/members/proxy-d: \"sessions\" is not a whole number >= 0"), "\(status.stderr)")
        #expect(status.stderr.contains("policyctl: etcd:/pc-view/members/bad/id: the key's proxy id \"bad/id\" is not one: only letters"),
                "\(status.stderr)")
        #expect(!status.stdout.contains("2209"))

        let tunnels = try policyctl(["tunnels"], config: config)
        #expect(tunnels.status == 1)
        #expect(tunnels.stdout.contains("alex/web.sock"))
        #expect(tunnels.stderr.contains("policyctl: etcd:/pc-view/claims/udp/localhost:53: not claims/socket/PATH or claims/tcp/HOST:PORT"),
                "\(tunnels.stderr)")
        #expect(tunnels.stderr.contains("policyctl: etcd:/pc-view/claims/tcp/localhost:80: no \"key\""), "\(tunnels.stderr)")
        #expect(tunnels.stderr.contains("policyctl: etcd:/pc-view/names/web: \"port\" is not a port (0 to 65535)"), "\(tunnels.stderr)")
    }

    @Test func anUnreachableEtcdIsAClearErrorWithinTheDeadline() throws {
        // Nothing listens: refused at once.
        let closed = try config(["http://127.0.0.1:\(try freePort())"])
        var started = Date()
        let refused = try policyctl(["status"], config: closed)
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("policyctl: cannot read the cluster from etcd: etcd http://127.0.0.1:"), "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot connect"), "\(refused.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)

        // Accepts but never answers: given up after --timeout.
        let silent = try SilentListener()
        let hung = try config(["http://127.0.0.1:\(silent.port)"])
        started = Date()
        let timedOut = try policyctl(["tunnels", "--timeout", "1"], config: hung)
        let took = Date().timeIntervalSince(started)
        #expect(timedOut.status == 1)
        #expect(timedOut.stderr.contains("policyctl: cannot read the cluster from etcd: etcd http://127.0.0.1:\(silent.port): timed out"),
                "\(timedOut.stderr)")
        #expect(took >= 0.9 && took < 4, "took \(took) s")

        // Two endpoints that never answer share the one deadline.
        let other = try SilentListener()
        let both = try config(["http://127.0.0.1:\(silent.port)", "http://127.0.0.1:\(other.port)"])
        started = Date()
        let bothTimedOut = try policyctl(["status", "--timeout", "2"], config: both)
        let tookBoth = Date().timeIntervalSince(started)
        #expect(bothTimedOut.status == 1)
        #expect(bothTimedOut.stderr.contains("policyctl: cannot read the cluster from etcd: all etcd endpoints failed: "), "\(bothTimedOut.stderr)")
        #expect(tookBoth >= 1.9 && tookBoth < 5, "took \(tookBoth) s")
    }

    @Test func aConfigWithoutClusterIsAUsageError() throws {
        let config = try scratch.write("single.yaml", """
            listen: ["127.0.0.1:2222"]
            host_keys: ["\(scratch.file("host_key"))"]
            socket_root: \(scratch.file("sockets"))
            audit_log: off

            """)
        let result = try policyctl(["status"], config: config)
        #expect(result.status == 2)
        #expect(result.stderr == "policyctl: \(config) has no cluster: section; policyctl cluster reads the cluster's etcd\n")
    }
}
