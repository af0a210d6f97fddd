import Foundation
@testable import PortcullisCluster
import PortcullisTestSupport
import Testing

/// The client over https against a real etcd started with --cert-file/--key-file/--trusted-ca-file
/// (and --client-cert-auth), with certificates made by the test.
@Suite(.serialized)
struct EtcdTLSTests {
    @Test func putGetAndWatchWorkOverHTTPSWithAClientCertificate() throws {
        let etcd = try EtcdServer(tls: .init(certificates: try TestCertificates()))
        let client = try EtcdClient(endpoints: [etcd.endpoint])
        #expect(etcd.url == "https://127.0.0.1:\(etcd.clientPort)")
        let revision = try client.put("/tls/a", "one")
        let kv = try #require(try client.get("/tls/a"))
        #expect(kv.valueString == "one" && kv.modRevision == revision)

        let events = EventLog()
        let watch = EtcdWatch(client: client, prefix: "/tls/", fromRevision: revision, handler: events.append)
        defer { watch.cancel() }
        try client.put("/tls/b", "two")
        try waitUntil("both events over the TLS watch") { events.events.count == 2 }
        #expect(events.events.map(\.kv.valueString) == ["one", "two"])
    }

    @Test func aServerCertificateFromAnotherCAIsRefused() throws {
        let etcd = try EtcdServer(tls: .init(certificates: try TestCertificates()))
        let certificates = try #require(etcd.tls?.certificates)
        let endpoint = EtcdEndpoint(host: "127.0.0.1", port: etcd.clientPort, tls: etcd.clientTLS(ca: certificates.wrongCA))
        let client = try EtcdClient(endpoints: [endpoint], requestTimeout: 5)
        let error = try #require(throws: EtcdError.self) { try client.put("/tls/a", "one") }
        #expect("\(error)".contains("etcd https://127.0.0.1:\(etcd.clientPort): cannot connect: TLS handshake failed: certificate verify failed"),
                "\(error)")
        // Nothing was written: the right client finds no key.
        #expect(try EtcdClient(endpoints: [etcd.endpoint]).get("/tls/a") == nil)
    }

    @Test func aServerCertificateForAnotherHostIsRefused() throws {
        let etcd = try EtcdServer(tls: .init(certificates: try TestCertificates(), presentsOtherHost: true))
        let byAddress = try EtcdClient(endpoints: [etcd.endpoint], requestTimeout: 5)
        let addressError = try #require(throws: EtcdError.self) { try byAddress.get("/tls/a") }
        #expect("\(addressError)".contains("certificate verify failed: IP address mismatch"), "\(addressError)")

        let byName = try EtcdClient(endpoints: [EtcdEndpoint(host: "localhost", port: etcd.clientPort, tls: etcd.clientTLS())],
                                    requestTimeout: 5)
        let nameError = try #require(throws: EtcdError.self) { try byName.get("/tls/a") }
        #expect("\(nameError)".contains("certificate verify failed: hostname mismatch"), "\(nameError)")
    }

    @Test func noClientCertificateWhenEtcdDemandsOneIsRefused() throws {
        let etcd = try EtcdServer(tls: .init(certificates: try TestCertificates()))
        let endpoint = EtcdEndpoint(host: "127.0.0.1", port: etcd.clientPort, tls: etcd.clientTLS(withClientCertificate: false))
        let client = try EtcdClient(endpoints: [endpoint], requestTimeout: 5)
        let error = try #require(throws: EtcdError.self) { try client.put("/tls/a", "one") }
        #expect("\(error)".contains("etcd demands a client certificate: set tls_cert and tls_key"), "\(error)")
        #expect(try EtcdClient(endpoints: [etcd.endpoint]).get("/tls/a") == nil)
    }

    @Test func withoutClientCertAuthTheCAAloneIsEnough() throws {
        let etcd = try EtcdServer(tls: .init(certificates: try TestCertificates(), clientCertAuth: false))
        let endpoint = EtcdEndpoint(host: "127.0.0.1", port: etcd.clientPort, tls: etcd.clientTLS(withClientCertificate: false))
        let client = try EtcdClient(endpoints: [endpoint])
        try client.put("/tls/a", "one")
        #expect(try client.get("/tls/a")?.valueString == "one")
    }

    @Test func aPeerThatNeverAnswersTheHandshakeTimesOutAtTheDeadline() throws {
        let certificates = try TestCertificates()
        let silent = try SilentListener()
        let endpoint = EtcdEndpoint(host: "127.0.0.1", port: silent.port, tls: EtcdTLS(caFile: certificates.ca))
        let client = try EtcdClient(endpoints: [endpoint], requestTimeout: 1)
        let started = Date()
        let error = try #require(throws: EtcdError.self) { try client.get("/tls/a") }
        #expect(Date().timeIntervalSince(started) < 3)
        #expect("\(error)".contains("TLS handshake: no answer before the deadline"), "\(error)")
    }

    @Test func aServerThatSpeaksOnlyTLS11IsRefused() throws {
        let certificates = try TestCertificates()
        let port = try freePort()
        let server = try BackgroundProcess("/usr/bin/openssl", [
            "s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificates.serverCert, "-key", certificates.serverKey,
            "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-quiet",
        ], errorFile: certificates.directory.file("s_server.log"))
        defer { server.stop() }
        try waitUntil("openssl s_server on \(port)") {
            (try? TCPConnection(to: EtcdEndpoint(host: "127.0.0.1", port: port), deadline: Deadline(after: 0.5))) != nil
        }
        let client = try EtcdClient(endpoints: [EtcdEndpoint(host: "127.0.0.1", port: port, tls: EtcdTLS(caFile: certificates.ca))],
                                    requestTimeout: 5)
        let error = try #require(throws: EtcdError.self) { try client.get("/tls/a") }
        #expect("\(error)".contains("cannot connect: TLS handshake failed: "), "\(error)")
        #expect("\(error)".contains("protocol"), "\(error)")
    }

    @Test func httpsURLsNeedTLSSettingsAndHTTPURLsRefuseThem() throws {
        #expect(throws: EtcdError.self) { try EtcdEndpoint(parsing: "https://127.0.0.1:2379") }
        #expect(throws: EtcdError.self) { try EtcdEndpoint(parsing: "http://127.0.0.1:2379", tls: EtcdTLS(caFile: "/ca.pem")) }
        let parsed = try EtcdEndpoint(parsing: "https://[::1]:2379", tls: EtcdTLS(caFile: "/ca.pem"))
        #expect(parsed.host == "::1" && parsed.port == 2379 && parsed.description == "https://[::1]:2379")
    }
}
