// swift-tools-version: 6.1
import PackageDescription

// The benchmark programs, a package of their own so that building the root package builds its products only.
// They use the root's library products, by path. Scripts/test builds them in debug mode (a change that breaks one
// fails CI); their figures come from release builds run by hand, each command written beside its figures:
//
//   swift build -c release --package-path Benchmarks --scratch-path /var/tmp/vamp-bench-release --product NAME
//   /var/tmp/vamp-bench-release/release/NAME ...
//
// (or `swift run -c release --package-path Benchmarks NAME ...`, which builds into Benchmarks/.build).

/// The root package's settings: Swift 6 language mode plus the upcoming features the style guide asks for.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "VampBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package, named so whatever its folder is called (the identity of a path dependency is the folder's name).
        .package(name: "Vamp", path: "../"),
        // The same requirements as the root's manifest.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // set → watch-event latency on real etcd and ZooKeeper (Documentation/performance-kvstores.md).
        .executableTarget(
            name: "KVStoresLatency",
            dependencies: [.product(name: "KVStores", package: "Vamp"), .product(name: "VampTesting", package: "Vamp")],
            path: "KVStoresLatency",
            swiftSettings: swiftSettings),
        // Throughput of the Persistence stores (Documentation/performance-persistence.md, run by Scripts/perf-persistence).
        .executableTarget(
            name: "PersistenceThroughput",
            dependencies: [
                .product(name: "Persistence", package: "Vamp"), .product(name: "VampModel", package: "Vamp"),
                .product(name: "VampTesting", package: "Vamp"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "PersistenceThroughput",
            swiftSettings: swiftSettings),
        // Reload benchmark of the gateway agent (Documentation/performance.md); runs the root's vamp-gateway-agent.
        .executableTarget(
            name: "agent-reload-benchmark",
            dependencies: [
                .product(name: "HAProxyConfigGen", package: "Vamp"), .product(name: "KVStores", package: "Vamp"),
                .product(name: "VampModel", package: "Vamp"), .product(name: "VampTesting", package: "Vamp"),
            ],
            path: "AgentReload",
            swiftSettings: swiftSettings),
        // The ceiling of vamp-server's HTTP benchmark (Scripts/bench-server): Hummingbird answering a fixed body.
        .executableTarget(
            name: "hummingbird-hello",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "HummingbirdHello",
            swiftSettings: swiftSettings),
        // Release-mode timing of the user-facing figures (Documentation/performance.md).
        .executableTarget(
            name: "vamp-benchmarks",
            dependencies: [
                .product(name: "VampDSL", package: "Vamp"), .product(name: "VampModel", package: "Vamp"),
                .product(name: "HAProxyConfigGen", package: "Vamp"), .product(name: "Yams", package: "Yams"),
            ],
            path: "VampBenchmarks",
            swiftSettings: swiftSettings),
        // Releases judged by the real decision code (VampReleases) beside a fixed-interval rule, on the same simulated
        // traffic: false rollbacks, time and failed requests to a rollback (Documentation/performance.md).
        .executableTarget(
            name: "release-simulation",
            dependencies: [
                .product(name: "VampReleases", package: "Vamp"), .product(name: "VampStatistics", package: "Vamp"),
                .product(name: "VampModel", package: "Vamp"),
            ],
            path: "ReleaseSimulation",
            swiftSettings: swiftSettings),
    ]
)
