// swift-tools-version: 6.0
// libFuzzer harnesses for the pure policy module (Fuzz/README.md). A package of its own, so the
// main package's build is untouched: PortcullisPolicy's sources are the main package's, through
// the Sources/PortcullisPolicy symlink, compiled with -enable-testing so harnesses reach its
// internal parsers. Build: Fuzz/run builds it with -sanitize=fuzzer (swift build -c release
// -Xswiftc -sanitize=fuzzer,address).
import PackageDescription

/// Every harness is an executable whose main() is libFuzzer's.
func harness(_ name: String, _ directory: String) -> Target {
    .executableTarget(
        name: name, dependencies: ["PortcullisPolicy", "FuzzSupport"], path: "Harnesses/\(directory)",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "PortcullisFuzz",
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(
            name: "PortcullisPolicy", dependencies: ["Yams"], path: "Sources/PortcullisPolicy",
            swiftSettings: [.unsafeFlags(["-enable-testing"])]
        ),
        .target(name: "FuzzSupport", path: "Harnesses/Support"),
        harness("fuzz-config-loader", "ConfigLoader"),
        harness("fuzz-path-pattern", "PathPattern"),
        harness("fuzz-glob", "Glob"),
        harness("fuzz-address-patterns", "AddressPatterns"),
    ]
)
