import PortcullisAudit
import Testing

@Suite struct AuditModuleTests {
    @Test func moduleLoads() {
        #expect(String(describing: PortcullisAudit.self) == "PortcullisAudit")
    }
}
