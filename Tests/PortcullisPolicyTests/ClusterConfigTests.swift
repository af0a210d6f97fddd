import Testing
@testable import PortcullisPolicy

/// `proxy_id` and the `cluster:` mapping: defaults, values, and every bad value named at its line.
@Suite struct ClusterConfigTests {
    let base = "host_keys: [/etc/portcullis/host]\nsocket_root: /srv/p\n"

    @Test func withoutClusterTheProxyIDIsTheHostName() throws {
        let fixture = try Fixture(base)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.cluster == nil)
        #expect(config.proxyID == ProxyID.hostName() && !config.proxyID.isEmpty)
    }

    @Test func valuesAreReadAndDefaultsFilled() throws {
        let fixture = try Fixture(base + """
            proxy_id: proxy-a
            cluster:
              etcd: ["http://127.0.0.1:2379", "http://[::1]:2380/"]
              advertise: "203.0.113.10:22"
              snapshot: state/policy.snapshot

            """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.proxyID == "proxy-a")
        #expect(config.cluster == ClusterSettings(
            etcd: [.init(host: "127.0.0.1", port: 2379), .init(host: "::1", port: 2380)],
            prefix: "/portcullis/", leaseTTL: 10, advertise: "203.0.113.10:22",
            snapshot: fixture.directory.path + "/state/policy.snapshot"))
        #expect(config.cluster?.etcd.map(\.description) == ["http://127.0.0.1:2379", "http://[::1]:2380"])
        #expect(config.keys.isEmpty)
    }

    @Test func prefixAndLeaseTTL() throws {
        let fixture = try Fixture(base + "cluster: {etcd: [\"http://10.0.0.5:2379\"], prefix: /tunnels/eu/, lease_ttl: 2s}\n")
        defer { fixture.directory.remove() }
        let settings = try #require(try fixture.load().cluster)
        #expect(settings.prefix == "/tunnels/eu/" && settings.leaseTTL == 2 && settings.snapshot == ClusterSettings.defaultSnapshot)
    }

    @Test func keysInTheFileAreRefusedInClusterMode() {
        let problems = try? Fixture(base + """
            cluster: {etcd: ["http://127.0.0.1:2379"]}
            keys_dir: keys.d
            keys:
              - {name: alex, key: "\(TestKeys.ed25519Line(1))"}

            """).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:4: keys_dir: not allowed with cluster: (key entries live in etcd under /portcullis/keys/; add them with policyctl add-key)",
            "$DIR/portcullis.yaml:5: keys: not allowed with cluster: (key entries live in etcd under /portcullis/keys/; add them with policyctl add-key)",
        ])
    }

    @Test func badValuesAreNamedWithTheirLine() {
        let problems = try? Fixture(base + """
            proxy_id: "-a b"
            cluster:
              etcd: ["https://127.0.0.1:2379", "http://127.0.0.1", "127.0.0.1:2379", "http://h:0"]
              prefix: portcullis
              lease_ttl: 1s
              advertise: "no-port"
              tls_ca: /etc/ca.pem
              endpoints: []

            """).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:10: unknown cluster field \"endpoints\"",
            "$DIR/portcullis.yaml:3: proxy_id \"-a b\": must start with a letter or digit",
            "$DIR/portcullis.yaml:5: cluster.etcd[0] \"https://127.0.0.1:2379\": https is not supported yet: use http:// on loopback or a private network",
            "$DIR/portcullis.yaml:5: cluster.etcd[1] \"http://127.0.0.1\": expected http://HOST:PORT (an IPv6 host in brackets)",
            "$DIR/portcullis.yaml:5: cluster.etcd[2] \"127.0.0.1:2379\": expected http://HOST:PORT",
            "$DIR/portcullis.yaml:5: cluster.etcd[3] \"http://h:0\": port must be 1-65535",
            "$DIR/portcullis.yaml:6: cluster.prefix \"portcullis\": expected a path that starts and ends with /, like /portcullis/",
            "$DIR/portcullis.yaml:7: cluster.lease_ttl \"1s\": expected a duration from 2s to 1h, like \"10s\"",
            "$DIR/portcullis.yaml:8: cluster.advertise \"no-port\": expected HOST:PORT (an IPv6 host in brackets)",
            "$DIR/portcullis.yaml:9: cluster.tls_ca: TLS to etcd is not supported yet; reach etcd over http:// on loopback or a private network",
        ])
    }

    @Test func etcdIsRequired() {
        let problems = try? Fixture(base + "cluster: {prefix: /p/}\n").problems()
        #expect(problems == ["$DIR/portcullis.yaml:3: cluster: missing required field \"etcd\" (the etcd endpoints, e.g. [\"http://127.0.0.1:2379\"])"])
    }

    @Test(arguments: ["a", "proxy-a", "eu1.example.org", "A_b-9"]) func goodProxyIDs(_ text: String) {
        #expect(ProxyID.problem(text) == nil)
    }

    @Test(arguments: ["", "-a", ".a", "a/b", "a b", "ä", String(repeating: "a", count: 254)]) func badProxyIDs(_ text: String) {
        #expect(ProxyID.problem(text) != nil)
    }
}
