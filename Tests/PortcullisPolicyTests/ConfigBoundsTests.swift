import Foundation
@testable import PortcullisPolicy
import Testing
import PortcullisTestSupport

/// Hostile config files: alias bombs, huge files and values, deep nesting, bytes that are not
/// UTF-8, and keys_dir entries that are not regular files. Each is refused with its file (and
/// line), fast, without blocking.
@Suite struct ConfigBoundsTests {
    /// Ten levels of ten aliases each: 10^10 nodes once expanded, a few hundred bytes written. As
    /// mapping keys, each alias in a distinct key (`[*l4, 5]`): Yams hashes every key whole to find
    /// duplicates, which is what made the old loader spin.
    static func laughs(asKeys: Bool) -> String {
        var text = header + "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let aliases = (0..<10).map { asKeys ? "? [*l\(level - 1), \($0)]\n  : \($0)" : "*l\(level - 1)" }
            text += asKeys ? "l\(level): &l\(level)\n" + aliases.map { "  \($0)\n" }.joined()
                           : "l\(level): &l\(level) [\(aliases.joined(separator: ", "))]\n"
        }
        return text
    }

    /// How long `body` takes, in seconds.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    @Test(arguments: [false, true]) func billionLaughsIsRefusedWithItsLineInWellUnderASecond(asKeys: Bool) throws {
        var problems: [String] = []
        let elapsed = try Self.seconds { problems = try Fixture(Self.laughs(asKeys: asKeys)).problems() }
        #expect(elapsed < 0.5, "took \(elapsed) s")
        #expect(problems.count == 1)
        // As values, the eighth alias of level 5 (line 9) is the first past 10^6 nodes; as keys, each
        // level takes 21 lines (level 5 starts on line 89), each alias two, and the sixth passes it.
        let line = asKeys ? 89 + 1 + 2 * 5 : 9
        let size = asKeys ? 144_441 : 111_111
        #expect(problems.first?.hasPrefix("$DIR/portcullis.yaml:\(line): alias *l4 stands for \(size) nodes") == true, "\(problems)")
        #expect(problems.first?.contains("exceed 1000000 nodes") == true, "\(problems)")
    }

    @Test func aliasesWithinTheBudgetStillWork() throws {
        let shared = try Fixture(header + """
            keys:
              - name: alex
                key: "\(alexKey)"
                permit_open: &common ["127.0.0.1:5900", "127.0.0.1:5901"]
              - name: bob
                key: "\(bobKey)"
                permit_open: *common

            """)
        let config = try shared.load()
        #expect(config.keys.map(\.permitOpen.count) == [2, 2])
    }

    @Test func aMainFileOverSixteenMiBIsRefusedBeforeItIsRead() throws {
        let fixture = try Fixture(header)
        let big = fixture.directory.path + "/portcullis.yaml"
        let handle = try #require(FileHandle(forWritingAtPath: big))
        // 100 MB of one string: sparse, so the test writes almost nothing.
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("keys: \"".utf8))
        try handle.truncate(atOffset: 100_000_000)
        try handle.close()
        var problems: [String] = []
        let elapsed = Self.seconds { problems = fixture.problems() }
        #expect(elapsed < 0.5, "took \(elapsed) s")
        #expect(problems == ["$DIR/portcullis.yaml: file is 100000000 bytes, more than the 16 MiB a config file may have here"])
    }

    @Test func aKeyFileOverOneMiBIsRefused() throws {
        let problems = try Fixture(header + "keys_dir: keys.d\n", files: [
            "keys.d/big.yaml": "name: big\nkey: \"" + String(repeating: "A", count: 1 << 20) + "\"\n",
        ]).problems()
        #expect(problems == ["$DIR/keys.d/big.yaml: file is 1048594 bytes, more than the 1 MiB a config file may have here"])
    }

    @Test func aValueOverSixtyFourKiBIsRefusedWithItsLine() throws {
        var problems: [String] = []
        let text = header + "keys:\n  - name: \"" + String(repeating: "x", count: 10 << 20) + "\"\n"
        let elapsed = try Self.seconds { problems = try Fixture(text).problems() }
        #expect(elapsed < 2, "took \(elapsed) s")
        #expect(problems == ["$DIR/portcullis.yaml:5: a value of 10485760 bytes: at most 65536 bytes are allowed in one value"])
    }

    @Test func deepNestingIsRefusedWithItsLine() throws {
        let deep = header + "keys: " + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "\n"
        #expect(try Fixture(deep).problems() == ["$DIR/portcullis.yaml:4: lists and mappings nested more than 64 deep"])
    }

    @Test func invalidUTF8NamesItsLineColumnAndByte() throws {
        let fixture = try Fixture(header)
        var bytes = Array((header + "keys:\n  - name: caf").utf8)
        bytes += [0xC3, 0xA9, 0x2D, 0xFF, 0xFE]
        bytes += Array("\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: fixture.main))
        #expect(fixture.problemsKeepingFiles() == ["$DIR/portcullis.yaml:5: invalid UTF-8 (byte 0xff at column 16)"])
        // A truncated sequence, an overlong form and a surrogate are refused too.
        for (bad, column) in [([UInt8]([0xE2, 0x82]), 4), ([0xC0, 0xAF], 4), ([0xED, 0xA0, 0x80], 4)] {
            try Data(Array("a: ".utf8) + bad + [0x0A]).write(to: URL(fileURLWithPath: fixture.main))
            let byte = String(bad[0], radix: 16)
            #expect(fixture.problemsKeepingFiles() == ["$DIR/portcullis.yaml:1: invalid UTF-8 (byte 0x\(byte) at column \(column))"])
        }
    }
}

extension Fixture {
    /// The problems, without removing the directory.
    func problemsKeepingFiles() -> [String] {
        do {
            _ = try load()
            return []
        } catch {
            return error.problems.map { $0.description.replacingOccurrences(of: directory.path, with: "$DIR") }
        }
    }
}

/// keys_dir entries that are not regular files, and a main file that is not one.
@Suite struct ConfigFileKindTests {
    @Test func aFIFOInKeysDirIsNamedAndNeverOpened() throws {
        let fixture = try Fixture(header + "keys_dir: keys.d\n", files: ["keys.d/a.yaml": "name: a\nkey: \(alexKey)\n"])
        #expect(mkfifo(fixture.directory.path + "/keys.d/x.yaml", 0o600) == 0)
        // Opened for reading without a writer, a FIFO would block the loader for ever.
        var problems: [String] = []
        let elapsed = ConfigBoundsTests.seconds { problems = fixture.problems() }
        #expect(elapsed < 1)
        #expect(problems == ["$DIR/keys.d/x.yaml: not a regular file (a FIFO)"])
    }

    @Test func aDirectorySocketDeviceOrLinkNamedLikeAKeyFileIsNamed() throws {
        let fixture = try Fixture(header + "keys_dir: keys.d\n", files: [
            "keys.d/a.yaml": "name: a\nkey: \(alexKey)\n", "keys.d/dir.yaml/inner": "x",
        ])
        let keys = fixture.directory.path + "/keys.d"
        #expect(symlink(keys + "/a.yaml", keys + "/link.yaml") == 0)
        #expect(symlink("/dev/zero", keys + "/zero.yaml") == 0)
        let socket = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in (keys + "/sock.yaml").utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var expected = [
            "$DIR/keys.d/dir.yaml: not a regular file (a directory)",
            "$DIR/keys.d/link.yaml: not a regular file (a symbolic link: keys_dir files are never followed through links; put the file itself here)",
            "$DIR/keys.d/sock.yaml: not a regular file (a socket)",
            "$DIR/keys.d/zero.yaml: not a regular file (a symbolic link: keys_dir files are never followed through links; put the file itself here)",
        ]
        if getuid() == 0, mknod(keys + "/null.yaml", S_IFCHR | 0o600, dev_t((1 << 8) | 3)  /* /dev/null: major 1, minor 3 */) == 0 {
            expected.insert("$DIR/keys.d/null.yaml: not a regular file (a character device)", at: 2)
        }
        #expect(fixture.problems() == expected)
    }

    @Test func aMainFileThatIsAFIFOIsNamed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(mkfifo(directory.path + "/portcullis.yaml", 0o600) == 0)
        #expect(throws: ConfigError(problems: [ConfigProblem(file: directory.path + "/portcullis.yaml", line: nil,
                                                             message: "not a regular file (a FIFO)")])) {
            try ConfigLoader.load(path: directory.path + "/portcullis.yaml")
        }
    }
}

/// A refused reload writes the error to the log and the audit record: its length stays bounded.
@Suite struct ConfigErrorLengthTests {
    @Test func theDescriptionListsTheFirstHundredProblemsAndCountsTheRest() throws {
        let items = (0..<250).map { "\"bad\($0)\"" }.joined(separator: ", ")
        let problems = try Fixture(header + "listen: [\(items)]\n").problems()
        #expect(problems.count == 250)
        let fixture = try Fixture(header + "listen: [\(items)]\n")
        defer { fixture.directory.remove() }
        #expect(throws: ConfigError.self) { try fixture.load() }
        do {
            _ = try fixture.load()
        } catch {
            let lines = error.description.split(separator: "\n")
            #expect(lines.count == 101)
            #expect(lines.last == "(and 150 more problems: policyctl validate --json lists them all)")
        }
    }
}
