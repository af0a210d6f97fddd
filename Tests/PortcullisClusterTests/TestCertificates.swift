import Foundation
import PortcullisTestSupport

/// Certificates for TLS tests, made with the openssl CLI in a temporary directory: a CA, etcd's
/// server certificate for 127.0.0.1 / localhost, one for another host name, a client certificate,
/// and an unrelated CA. EC P-256 keys, valid for two days.
struct TestCertificates {
    let directory: TemporaryDirectory
    var ca: String { directory.file("ca.pem") }
    var serverCert: String { directory.file("server.pem") }
    var serverKey: String { directory.file("server.key") }
    /// Signed by `ca` but naming only etcd.elsewhere.test (no IP address).
    var otherHostCert: String { directory.file("other.pem") }
    var otherHostKey: String { directory.file("other.key") }
    var clientCert: String { directory.file("client.pem") }
    var clientKey: String { directory.file("client.key") }
    /// A CA that signed none of these.
    var wrongCA: String { directory.file("wrong-ca.pem") }

    init() throws {
        directory = try TemporaryDirectory()
        try makeCA("ca", "portcullis-test-ca")
        try makeCA("wrong-ca", "some-other-ca")
        try makeLeaf("server", san: "IP:127.0.0.1,DNS:localhost", usage: "serverAuth,clientAuth")
        try makeLeaf("other", san: "DNS:etcd.elsewhere.test", usage: "serverAuth,clientAuth")
        try makeLeaf("client", san: "DNS:portcullis-client", usage: "clientAuth")
    }

    private func makeCA(_ name: String, _ subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", directory.file("\(name).key"), "-out", directory.file("\(name).pem"),
                     "-days", "2", "-subj", "/CN=\(subject)"])
    }

    private func makeLeaf(_ name: String, san: String, usage: String) throws {
        let extensions = try directory.write("\(name).ext", "subjectAltName=\(san)\nextendedKeyUsage=\(usage)\n")
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", directory.file("\(name).key"), "-out", directory.file("\(name).csr"), "-subj", "/CN=\(name)"])
        try openssl(["x509", "-req", "-in", directory.file("\(name).csr"), "-CA", ca, "-CAkey", directory.file("ca.key"),
                     "-CAcreateserial", "-out", directory.file("\(name).pem"), "-days", "2", "-extfile", extensions])
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try run("/usr/bin/openssl", arguments)
        guard result.status == 0 else { throw TestFailure("openssl \(arguments[0]) failed: \(result.stderr)") }
    }
}
