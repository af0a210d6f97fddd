import Foundation
import PortcullisServer
import PortcullisTestSupport
import Testing

/// The control socket's directories, each up to /, as sshd's StrictModes checks them.
@Suite struct SecureAncestorsTests {
    private func directory(_ scratch: TemporaryDirectory, _ name: String, mode: mode_t) throws -> String {
        let path = scratch.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        #expect(chmod(path, mode) == 0)
        return path
    }

    @Test func aDirectoryOthersCanWriteAnywhereAboveIsNamed() throws {
        let scratch = try TemporaryDirectory()
        let open = try directory(scratch, "open", mode: 0o777)
        _ = try directory(scratch, "open/sub/deeper", mode: 0o755)
        let problem = SecureAncestors.problem(above: scratch.file("open/sub/deeper/c.sock"), owners: [geteuid()])
        #expect(problem?.directory == open)
        #expect(problem?.reason == "may be written by others (mode 777, no sticky bit)")
    }

    @Test func aGroupWritableDirectoryIsNamed() throws {
        let scratch = try TemporaryDirectory()
        let shared = try directory(scratch, "shared", mode: 0o775)
        _ = try directory(scratch, "shared/sub", mode: 0o755)
        let problem = SecureAncestors.problem(above: scratch.file("shared/sub/c.sock"), owners: [geteuid()])
        #expect(problem?.directory == shared)
        #expect(problem?.reason == "may be written by its group (mode 775, no sticky bit)")
    }

    @Test func stickyDirectoriesAndMissingOnesPass() throws {
        let scratch = try TemporaryDirectory()
        _ = try directory(scratch, "sticky", mode: 0o1777)
        _ = try directory(scratch, "sticky/sub", mode: 0o755)
        #expect(SecureAncestors.problem(above: scratch.file("sticky/sub/c.sock"), owners: [geteuid()]) == nil)
        // Not made yet (the daemon makes them, 0755): nothing to check there.
        #expect(SecureAncestors.problem(above: scratch.file("sticky/not/yet/c.sock"), owners: [geteuid()]) == nil)
    }

    @Test func aDirectoryOfAnotherUserIsNamed() throws {
        guard geteuid() == 0 else { return }  // chown needs root
        let scratch = try TemporaryDirectory()
        let theirs = try directory(scratch, "theirs", mode: 0o755)
        _ = try directory(scratch, "theirs/sub", mode: 0o755)
        #expect(chown(theirs, 65534, 65534) == 0)
        let problem = SecureAncestors.problem(above: scratch.file("theirs/sub/c.sock"), owners: [0])
        #expect(problem?.directory == theirs)
        #expect(problem?.reason.hasPrefix("belongs to uid 65534") == true, "\(String(describing: problem))")
        // The daemon's own account may own it.
        #expect(SecureAncestors.problem(above: scratch.file("theirs/sub/c.sock"), owners: [0, 65534]) == nil)
    }

    @Test func theRealPathBehindASymbolicLinkIsWalkedToo() throws {
        let scratch = try TemporaryDirectory()
        let open = try directory(scratch, "open", mode: 0o777)
        _ = try directory(scratch, "open/real", mode: 0o755)
        _ = try directory(scratch, "safe", mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: scratch.file("safe/link"), withDestinationPath: scratch.file("open/real"))
        let problem = SecureAncestors.problem(above: scratch.file("safe/link/c.sock"), owners: [geteuid()])
        #expect(problem?.directory == open, "\(String(describing: problem))")
        #expect(problem?.reason.hasSuffix("(the real path of \(scratch.file("safe/link")))") == true)
    }
}

/// What a pid names, before policyctl signals it.
@Suite struct DaemonProcessTests {
    @Test func anotherProgramIsNamed() throws {
        let pid = getpid()
        let problem = DaemonProcess.problem(pid: pid)
        #expect(problem?.hasPrefix("pid \(pid) is /") == true, "\(String(describing: problem))")
        #expect(problem?.hasSuffix(", not portcullisd") == true)
    }

    @Test func aProgramNamedPortcullisdPasses() throws {
        let scratch = try TemporaryDirectory()
        let fake = scratch.file("portcullisd")
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: fake)
        let pid = try spawn(fake, ["30"])
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        try waitUntil("the copy to run") { DaemonProcess.problem(pid: pid) == nil }
        // Replaced by an upgrade while it runs: still portcullisd.
        try FileManager.default.removeItem(atPath: fake)
        #expect(DaemonProcess.problem(pid: pid) == nil)
    }

    @Test func noSuchProcessAndTheProcessNameWhenTheExecutableIsHidden() throws {
        #expect(DaemonProcess.problem(pid: Int32.max) == "no process has pid \(Int32.max)")
        #expect(DaemonProcess.problem(pid: 0) == "0 is not a process id")
        // Another user's process (exe unreadable): its name is all there is.
        let scratch = try TemporaryDirectory()
        try scratch.write("proc/123/comm", "portcullisd\n")
        try scratch.write("proc/124/comm", "sleep\n")
        #expect(DaemonProcess.problem(pid: 123, proc: scratch.file("proc")) == nil)
        #expect(DaemonProcess.problem(pid: 124, proc: scratch.file("proc")) == "pid 124 is \"sleep\" (its process name), not portcullisd")
    }
}
