import Foundation
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
              etcd: ["ftp://127.0.0.1:2379", "http://127.0.0.1", "127.0.0.1:2379", "http://h:0"]
              prefix: portcullis
              lease_ttl: 1s
              advertise: "no-port"
              tls_ca: /etc/ca.pem
              endpoints: []

            """).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:10: unknown cluster field \"endpoints\"",
            "$DIR/portcullis.yaml:3: proxy_id \"-a b\": must start with a letter or digit",
            "$DIR/portcullis.yaml:5: cluster.etcd[0] \"ftp://127.0.0.1:2379\": expected http://HOST:PORT or https://HOST:PORT",
            "$DIR/portcullis.yaml:5: cluster.etcd[1] \"http://127.0.0.1\": expected http://HOST:PORT (an IPv6 host in brackets)",
            "$DIR/portcullis.yaml:5: cluster.etcd[2] \"127.0.0.1:2379\": expected http://HOST:PORT or https://HOST:PORT",
            "$DIR/portcullis.yaml:5: cluster.etcd[3] \"http://h:0\": port must be 1-65535",
            "$DIR/portcullis.yaml:6: cluster.prefix \"portcullis\": expected a path that starts and ends with /, like /portcullis/",
            "$DIR/portcullis.yaml:7: cluster.lease_ttl \"1s\": expected a duration from 2s to 1h, like \"10s\"",
            "$DIR/portcullis.yaml:8: cluster.advertise \"no-port\": expected HOST:PORT (an IPv6 host in brackets)",
            "$DIR/portcullis.yaml:9: cluster.tls_ca \"/etc/ca.pem\": cannot read /etc/ca.pem: No such file or directory",
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

    // MARK: - TLS to etcd

    let pem = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"

    @Test func httpsWithTheCAAndAClientCertificateIsRead() throws {
        let fixture = try Fixture(base + """
            cluster:
              etcd: ["https://10.0.0.5:2379", "https://etcd.example.org:2379"]
              tls_ca: tls/ca.pem
              tls_cert: tls/proxy.pem
              tls_key: /KEYDIR/proxy.key

            """, files: ["tls/ca.pem": pem, "tls/proxy.pem": pem, "keys/proxy.key": pem])
        defer { fixture.directory.remove() }
        // An absolute path stays as written; relative ones are next to the config file.
        let absolute = try String(contentsOfFile: fixture.main, encoding: .utf8)
            .replacingOccurrences(of: "/KEYDIR", with: fixture.directory.path + "/keys")
        try absolute.write(toFile: fixture.main, atomically: true, encoding: .utf8)
        let settings = try #require(try fixture.load().cluster)
        let dir = fixture.directory.path
        #expect(settings.etcd == [.init(scheme: .https, host: "10.0.0.5", port: 2379),
                                  .init(scheme: .https, host: "etcd.example.org", port: 2379)])
        #expect(settings.etcd.map(\.description) == ["https://10.0.0.5:2379", "https://etcd.example.org:2379"])
        #expect(settings.tls == ClusterSettings.TLS(caFile: dir + "/tls/ca.pem",
                                                    client: .init(certFile: dir + "/tls/proxy.pem", keyFile: dir + "/keys/proxy.key")))
    }

    @Test func httpsWithTheCAAloneIsRead() throws {
        let fixture = try Fixture(base + "cluster: {etcd: [\"https://[::1]:2379\"], tls_ca: ca.pem}\n", files: ["ca.pem": pem])
        defer { fixture.directory.remove() }
        let settings = try #require(try fixture.load().cluster)
        #expect(settings.tls == ClusterSettings.TLS(caFile: fixture.directory.path + "/ca.pem"))
        #expect(settings.etcd.map(\.description) == ["https://[::1]:2379"])
    }

    @Test func httpsWithoutTheCAIsRefused() {
        let problems = try? Fixture(base + "cluster:\n  etcd: [\"https://127.0.0.1:2379\"]\n  prefix: /p/\n").problems()
        #expect(problems == ["$DIR/portcullis.yaml:4: cluster.etcd: https:// endpoints need cluster.tls_ca "
                             + "(the CA certificate that signed etcd's server certificate)"])
    }

    @Test func aClientCertificateWithoutItsKeyOrAKeyWithoutItsCertificateIsRefused() {
        let certOnly = try? Fixture(base + """
            cluster:
              etcd: ["https://127.0.0.1:2379"]
              tls_ca: ca.pem
              tls_cert: proxy.pem

            """, files: ["ca.pem": pem, "proxy.pem": pem]).problems()
        #expect(certOnly == ["$DIR/portcullis.yaml:6: cluster.tls_cert: needs cluster.tls_key (the client certificate's private key)"])
        let keyOnly = try? Fixture(base + """
            cluster:
              etcd: ["https://127.0.0.1:2379"]
              tls_ca: ca.pem
              tls_key: proxy.key

            """, files: ["ca.pem": pem, "proxy.key": pem]).problems()
        #expect(keyOnly == ["$DIR/portcullis.yaml:6: cluster.tls_key: needs cluster.tls_cert (the client certificate)"])
    }

    @Test func httpAndHTTPSMixedAreRefused() {
        let problems = try? Fixture(base + """
            cluster:
              etcd: ["https://10.0.0.5:2379", "http://10.0.0.6:2379"]
              tls_ca: ca.pem

            """, files: ["ca.pem": pem]).problems()
        #expect(problems == ["$DIR/portcullis.yaml:4: cluster.etcd: http:// and https:// endpoints mixed; use https:// for all of them"])
    }

    @Test func tlsFilesWithHTTPEndpointsAreRefused() {
        let problems = try? Fixture(base + """
            cluster:
              etcd: ["http://10.0.0.5:2379"]
              tls_ca: ca.pem
              tls_cert: proxy.pem
              tls_key: proxy.key

            """, files: ["ca.pem": pem, "proxy.pem": pem, "proxy.key": pem]).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:5: cluster.tls_ca: only with https:// etcd endpoints (these are http://)",
            "$DIR/portcullis.yaml:6: cluster.tls_cert: only with https:// etcd endpoints (these are http://)",
            "$DIR/portcullis.yaml:7: cluster.tls_key: only with https:// etcd endpoints (these are http://)",
        ])
    }

    @Test func eachMissingOrUnusableFileIsNamedAtItsLine() {
        let problems = try? Fixture(base + """
            cluster:
              etcd: ["https://127.0.0.1:2379"]
              tls_ca: missing-ca.pem
              tls_cert: certs
              tls_key: ""

            """, files: ["certs/readme": "a directory"]).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:5: cluster.tls_ca \"missing-ca.pem\": cannot read $DIR/missing-ca.pem: No such file or directory",
            "$DIR/portcullis.yaml:6: cluster.tls_cert \"certs\": $DIR/certs is not a regular file",
            "$DIR/portcullis.yaml:7: cluster.tls_key \"\": expected a file path",
        ])
    }
}
