// swift-tools-version: 6.0
import Foundation
import PackageDescription

/// The static, patched libssh that `Deploy/libssh/build.sh` installs (`make libssh`).
let libsshPrefix = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent(".build-libssh/prefix").path
/// What a Swift target that imports CLibSSH needs to find libssh's headers.
let libsshHeaders: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I\(libsshPrefix)/include"])]

let package = Package(
    name: "Portcullis",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "portcullisd", targets: ["portcullisd"]),
        .executable(name: "policyctl", targets: ["policyctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // libssh, statically linked: the archive first, then what it needs, in that order.
        .target(
            name: "CLibSSH",
            cSettings: [.unsafeFlags(["-I\(libsshPrefix)/include"])],
            linkerSettings: [.unsafeFlags(["\(libsshPrefix)/lib/libssh.a", "-lcrypto", "-lpthread"])]
        ),
        // Pure policy: config model, YAML loading, patterns, decisions. No libssh, no sockets.
        .target(name: "PortcullisPolicy", dependencies: ["Yams"]),
        // Audit records and their writer and reader. Knows nothing of SSH.
        .target(name: "PortcullisAudit"),
        // The libssh glue: listeners, sessions, forwards, the byte pump.
        .target(
            name: "PortcullisServer",
            dependencies: ["CLibSSH", "PortcullisPolicy", "PortcullisAudit", "PortcullisCluster", "PortcullisClusterPolicy"],
            swiftSettings: libsshHeaders
        ),
        .executableTarget(
            name: "portcullisd",
            dependencies: [
                "PortcullisServer",
                "PortcullisCluster",
                "PortcullisClusterPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: libsshHeaders
        ),
        // PortcullisServer (and so libssh) for `validate`: the daemon's own start checks (StartupCheck).
        .executableTarget(
            name: "policyctl",
            dependencies: [
                "PortcullisPolicy",
                "PortcullisAudit",
                "PortcullisServer",
                "PortcullisCluster",
                "PortcullisClusterPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: libsshHeaders
        ),
        // Benchmarks/run's measure of the policy engine at 10,000 keys (load, reload, decide).
        .executableTarget(name: "policy-bench", dependencies: ["PortcullisPolicy"], path: "Benchmarks/policy-bench"),
        // Benchmarks/run's measure of AuditWriter on its own (records per second).
        .executableTarget(name: "audit-bench", dependencies: ["PortcullisAudit", "PortcullisPolicy"],
                          path: "Benchmarks/audit-bench"),
        // What every test target shares: temporary directories, a process runner, waiting with a deadline.
        .target(name: "PortcullisTestSupport", dependencies: ["PortcullisPolicy"], path: "Tests/PortcullisTestSupport"),
        // TLS to etcd: OpenSSL's libssl on a non-blocking socket, the macros Swift cannot call wrapped.
        .target(name: "CEtcdTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // Cluster mode (issue 14): a minimal etcd v3 client over the JSON gateway, on its own sockets.
        .target(name: "PortcullisCluster", dependencies: ["CEtcdTLS"]),
        // Cluster mode's policy source: key entries read and written in etcd, the watch, the snapshot.
        .target(name: "PortcullisClusterPolicy", dependencies: ["PortcullisCluster", "PortcullisPolicy"]),
        .testTarget(name: "PortcullisClusterTests",
                    dependencies: ["PortcullisCluster", "PortcullisClusterPolicy", "PortcullisPolicy", "PortcullisTestSupport"]),
        .testTarget(name: "PortcullisPolicyTests", dependencies: ["PortcullisPolicy", "PortcullisTestSupport"]),
        // policyctl's pure pieces, and the built binary run against temporary configs.
        .testTarget(name: "PolicyctlTests", dependencies: ["PortcullisPolicy", "PortcullisAudit", "PortcullisTestSupport"]),
        .testTarget(name: "PortcullisAuditTests", dependencies: ["PortcullisAudit", "PortcullisTestSupport"]),
        .testTarget(
            name: "PortcullisServerTests",
            dependencies: ["PortcullisServer", "PortcullisAudit", "PortcullisPolicy", "CLibSSH", "PortcullisTestSupport"],
            swiftSettings: libsshHeaders
        ),
    ]
)
