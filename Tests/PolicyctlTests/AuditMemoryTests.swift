import Foundation
import Testing
import PortcullisTestSupport

/// Runs policyctl to completion, its output into a file; its exit status and peak resident set
/// size in KiB. The peak is the VmHWM of /proc/PID/status, sampled every 5 ms until the exit (it
/// only grows). wait4's ru_maxrss would not do: a child made by posix_spawn (vfork) starts out
/// with the test process's own, much larger, high-water mark.
func runMeasuringMemory(_ arguments: [String], stdout: String) throws -> (status: Int32, peakKiB: Int) {
    let pid = try spawn(policyctlBinary, arguments, stdout: stdout)
    var peak = 0
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            let fields = Dictionary(text.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { first, _ in first })
            // Only once policyctl runs: before its exec the child shares the test's memory.
            if fields["Name"] == "policyctl", let hwm = fields["VmHWM"]?.split(separator: " ").first.flatMap({ Int($0) }) {
                peak = max(peak, hwm)
            }
        }
        usleep(5000)
    }
    return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), peak)
}

/// The log is streamed: reading a much larger log takes no more memory.
@Suite struct AuditMemoryTests {
    @Test func peakMemoryDoesNotGrowWithTheLog() throws {
        let scratch = try TemporaryDirectory()
        let small = try AuditScenario(log: scratch.file("small.jsonl")).log
        // Repeated scenario days (the chain is not checked by show or summary): ~8 MB, ~35000
        // records, every one shown in the table. The debug build reads ~2 MB/s, so no bigger.
        let day = try Data(contentsOf: URL(fileURLWithPath: small))
        let big = scratch.file("big.jsonl")
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        var bytes = 0
        while bytes < 8 << 20 {
            try handle.write(contentsOf: day)
            bytes += day.count
        }
        try handle.close()
        for command in [[], ["summary"]] {
            let base = try runMeasuringMemory(["audit"] + command + [small], stdout: scratch.file("out"))
            let large = try runMeasuringMemory(["audit"] + command + [big], stdout: scratch.file("out"))
            #expect(base.status == 0 && large.status == 0)
            // Holding the lines or rows would add at least the file's 8 MiB.
            #expect(large.peakKiB - base.peakKiB < 3 << 10, "\(command): \(base.peakKiB) KiB for 9 KB, \(large.peakKiB) KiB for 8 MiB")
        }
        // The summary of the big log counted every day: three alex-laptop sessions each.
        let alex = try String(contentsOfFile: scratch.file("out"), encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("  alex-laptop ") }
        #expect(alex?.split(separator: " ").dropFirst().first == Substring("\(3 * (bytes / day.count))"), "\(alex ?? "")")
    }
}
