import PortcullisPolicy
import Testing

@Suite struct ForwardRequestTests {
    @Test func targetsAreSpelledAsTheAuditLogShowsThem() {
        #expect(ForwardRequest.tcpListen(host: "localhost", port: 8080).target == "localhost:8080")
        #expect(ForwardRequest.tcpOpen(host: "::1", port: 22).target == "[::1]:22")
        #expect(ForwardRequest.streamLocalOpen(path: "/srv/a.sock").description == "streamlocal-open /srv/a.sock")
    }
}
