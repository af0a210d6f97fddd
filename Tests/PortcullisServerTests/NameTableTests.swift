@testable import PortcullisServer
import Testing

/// The in-memory name table: one holder per name, released only by the session holding it.
@Suite struct NameTableTests {
    func holder(_ session: UInt64, port: Int = 22) -> NameHolder {
        NameHolder(session: session, keyName: "k\(session)", port: port, deliver: { _, _ in })
    }

    @Test func aNameHasOneHolderUntilItsSessionWithdrawsIt() {
        let table = NameTable()
        #expect(table.publish("alex-ssh", holder: holder(1)) == nil)
        // A second publisher is told who holds it, and nothing changes.
        #expect(table.publish("alex-ssh", holder: holder(2, port: 80))?.session == 1)
        #expect(table.lookup("alex-ssh")?.port == 22)
        // Only the holder's session releases it.
        #expect(table.withdraw("alex-ssh", session: 2) == false)
        #expect(table.lookup("alex-ssh")?.session == 1)
        #expect(table.withdraw("alex-ssh", session: 1))
        #expect(table.lookup("alex-ssh") == nil)
        #expect(table.withdraw("alex-ssh", session: 1) == false)
        #expect(table.publish("alex-ssh", holder: holder(2, port: 80)) == nil)
        #expect(table.published.map(\.name) == ["alex-ssh"])
        #expect(holder(7).description == "session 7 (key k7)")
    }

    @Test func namesAreExactNotFolded() {
        let table = NameTable()
        #expect(table.publish("db", holder: holder(1)) == nil)
        #expect(table.lookup("DB") == nil)
        #expect(table.lookup("db ") == nil)
    }
}
