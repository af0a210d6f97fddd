import Foundation
import Synchronization
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// sd_notify without libsystemd: the messages' text, and that they arrive as datagrams at a
/// path or an abstract name, as systemd's $NOTIFY_SOCKET gives them.
@Suite struct SystemdNotifyTests {
    @Test func messagesAreNewlineSeparatedAssignments() {
        #expect(NotifyMessage.ready(endpoints: ["127.0.0.1:22", "[::]:22"], keys: 3, pid: 42)
                == "READY=1\nSTATUS=listening on 127.0.0.1:22, [::]:22; 3 keys\nMAINPID=42\n")
        #expect(NotifyMessage.reloading(monotonicMicroseconds: 1_234_567)
                == "RELOADING=1\nMONOTONIC_USEC=1234567\nSTATUS=reloading\n")
        #expect(NotifyMessage.reloaded(keys: 0) == "READY=1\nSTATUS=reloaded: 0 keys\n")
        #expect(NotifyMessage.stopping(sessions: 2) == "STOPPING=1\nSTATUS=stopping: closing 2 sessions\n")
    }

    @Test func aRejectedReloadSaysOnlyTheFirstLineOfItsReason() {
        let reason = "/etc/p.yaml:4: socket_mode \"9\": expected an octal mode\n/etc/p.yaml:9: more"
        #expect(NotifyMessage.reloadRejected(reason: reason)
                == "READY=1\nSTATUS=reload rejected: /etc/p.yaml:4: socket_mode \"9\": expected an octal mode\n")
    }

    @Test func statusTextCannotStartAnotherField() {
        #expect(NotifyMessage.status("a\rREADY=1\tb") == "a?READY=1?b")
        #expect(NotifyMessage.status(String(repeating: "x", count: 500)).count == 200)
    }

    @Test func monotonicClockIsMicroseconds() {
        let first = NotifyMessage.monotonicNow()
        usleep(20_000)
        let elapsed = NotifyMessage.monotonicNow() - first
        #expect(elapsed >= 20_000 && elapsed < 5_000_000)
    }

    @Test func datagramsReachAPathAndAnAbstractName() throws {
        let directory = try TemporaryDirectory()
        for address in [directory.path + "/notify", "@portcullis-notify-test-\(getpid())"] {
            let receiver = try DatagramReceiver(address)
            defer { close(receiver.fd) }
            let reports = Mutex<[String]>([])
            let notify = SystemdNotify(address: address) { text in reports.withLock { $0.append(text) } }
            notify.send(NotifyMessage.reloaded(keys: 5))
            #expect(receiver.receive() == "READY=1\nSTATUS=reloaded: 5 keys\n")
            #expect(reports.withLock { $0 }.isEmpty)
        }
    }

    @Test func anUnreachableSocketIsReportedOnceAndNeverFatal() {
        let reports = Mutex<[String]>([])
        let notify = SystemdNotify(address: "/nonexistent/portcullis/notify") { text in reports.withLock { $0.append(text) } }
        notify.send("READY=1\n")
        notify.send("STOPPING=1\n")
        let said = reports.withLock { $0 }
        #expect(said.count == 1)
        #expect(said.first?.contains("/nonexistent/portcullis/notify") == true)
        #expect(SystemdNotify(environment: [:], report: { _ in }) == nil)
        #expect(SystemdNotify(environment: ["NOTIFY_SOCKET": ""], report: { _ in }) == nil)
    }
}

/// A bound AF_UNIX datagram socket (a path, or "@name": abstract), as systemd's.
private struct DatagramReceiver {
    let fd: Int32

    init(_ address: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var name = Array(address.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        var sockaddr = sockaddr_un()
        sockaddr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sockaddr.sun_path) { raw in
            raw.copyBytes(from: name)
            raw[name.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &sockaddr) {
            $0.withMemoryRebound(to: Foundation.sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}
