// swift-tools-version: 6.1
import PackageDescription

/// One set of compiler settings for every target: Swift 6 language mode (strict concurrency)
/// plus the upcoming features the style guide asks for.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

var dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    // `swift package generate-documentation`: the DocC catalogs in Sources/<Module>/<Module>.docc
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    // NIOHTTPTypes: the request parts VampAPI's channel handler sees (413 before the body is read).
    .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    // Stores are configured through `ConfigReader` (flags, environment, YAML files).
    .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
    .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    // The Kubernetes driver's CA certificate and the fake API server's TLS.
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    // HMAC-SHA256 of API token secrets (VampAccess); already resolved for postgres-nio.
    .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
    // Pulse's response-time histograms, which merge exactly across agents and seconds.
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    // The original's `/websocket` API, and its test client.
    .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
]

var products: [Product] = []
var targets: [Target] = []

// MARK: - VampConcurrency: Broadcast (change notices with any number of subscribers) and VampClock
products.append(.library(name: "VampConcurrency", targets: ["VampConcurrency"]))
targets.append(.target(name: "VampConcurrency", swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampConcurrencyTests",
    dependencies: ["VampConcurrency", "VampTesting"],
    swiftSettings: swiftSettings))

// MARK: - VampModel: artifact value types, units, names, validation (no I/O)
products.append(.library(name: "VampModel", targets: ["VampModel"]))
targets.append(.target(name: "VampModel", swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampModelTests",
    dependencies: ["VampModel", .product(name: "PropertyBased", package: "swift-property-based")],
    swiftSettings: swiftSettings))

// MARK: - VampDSL: YAML/JSON <-> model, conditions, value references
products.append(.library(name: "VampDSL", targets: ["VampDSL"]))
// The system's libyaml 0.2 (Debian's libyaml-dev), which VampDSL's event parser reads directly.
targets.append(.systemLibrary(
    name: "CLibYAML",
    pkgConfig: "yaml-0.1",
    providers: [.apt(["libyaml-dev"])]))
targets.append(.target(
    name: "VampDSL",
    dependencies: ["VampModel", "CLibYAML"],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampDSLTests",
    dependencies: ["VampDSL", "VampModel", .product(name: "PropertyBased", package: "swift-property-based")],
    resources: [.copy("Fixtures")],
    swiftSettings: swiftSettings))

// MARK: - HAProxyConfigGen: gateways to HAProxy 2.6 configuration text (pure)
products.append(.library(name: "HAProxyConfigGen", targets: ["HAProxyConfigGen"]))
targets.append(.target(name: "HAProxyConfigGen", dependencies: ["VampModel"], swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "HAProxyConfigGenTests",
    dependencies: ["HAProxyConfigGen", "VampModel", "VampDSL", "VampTesting"],
    resources: [.copy("Golden")],
    swiftSettings: swiftSettings))

// MARK: - KVStores: KeyValueStore protocol; memory, file, etcd v3, ZooKeeper and Consul stores
products.append(.library(name: "KVStores", targets: ["KVStores"]))
targets.append(.target(
    name: "KVStores",
    dependencies: [
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "KVStoresTests",
    dependencies: [
        "KVStores", "VampTesting",
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
    ],
    swiftSettings: swiftSettings))

// MARK: - VampStatistics: always-valid confidence sequences and the release checks built on them (pure)
products.append(.library(name: "VampStatistics", targets: ["VampStatistics"]))
targets.append(.target(name: "VampStatistics", swiftSettings: swiftSettings))
targets.append(.testTarget(name: "VampStatisticsTests", dependencies: ["VampStatistics"], swiftSettings: swiftSettings))

// MARK: - VampReleases: a release's decisions as a pure state machine (release, state, figures, time -> state, actions)
// Its own product, beside VampCore's planners, so that the release simulation runs the real decision code in a
// release build of a few small modules, and other projects can drive releases of their own.
products.append(.library(name: "VampReleases", targets: ["VampReleases"]))
targets.append(.target(name: "VampReleases", dependencies: ["VampModel", "VampStatistics"], swiftSettings: swiftSettings))
targets.append(.testTarget(name: "VampReleasesTests", dependencies: ["VampReleases", "VampModel", "VampStatistics"], swiftSettings: swiftSettings))

// MARK: - VampPulse: HAProxy's log lines to figures (parse, aggregate per second, merge exactly in a window); pure
products.append(.library(name: "VampPulse", targets: ["VampPulse"]))
targets.append(.target(
    name: "VampPulse",
    dependencies: [.product(name: "Histogram", package: "hdrhistogram-swift")],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampPulseTests",
    dependencies: ["VampPulse", "HAProxyConfigGen", "VampTesting", .product(name: "PropertyBased", package: "swift-property-based")],
    swiftSettings: swiftSettings))

// MARK: - HAProxyControl: haproxy -c, the master process and its CLI (swift-subprocess + NIO; no agent logic)
products.append(.library(name: "HAProxyControl", targets: ["HAProxyControl"]))
targets.append(.target(
    name: "HAProxyControl",
    dependencies: [
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
    ],
    swiftSettings: swiftSettings))

// MARK: - GatewayAgent: the VGA as a library (watch, validate, swap, seamless reload, logs)
products.append(.library(name: "GatewayAgent", targets: ["GatewayAgent"]))
targets.append(.target(
    name: "GatewayAgent",
    dependencies: [
        "KVStores", "HAProxyConfigGen", "HAProxyControl", "VampPulse",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "SystemPackage", package: "swift-system"),
        // Pulse's buckets to vamp-server (already linked through KVStores), over HTTPS trusting a CA file.
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "GatewayAgentTests",
    dependencies: [
        "GatewayAgent", "KVStores", "HAProxyConfigGen", "HAProxyControl", "VampModel", "VampTesting", "VampPulse",
        // A small vamp-server stand-in that records the Pulse buckets it is sent.
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "NIOCore", package: "swift-nio"),
    ],
    swiftSettings: swiftSettings))

// MARK: - vamp-gateway-agent: the agent's host
products.append(.executable(name: "vamp-gateway-agent", targets: ["VampGatewayAgent"]))
targets.append(.executableTarget(
    name: "VampGatewayAgent",
    dependencies: [
        "GatewayAgent", "KVStores", "HAProxyConfigGen",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
    ],
    path: "Hosts/VampGatewayAgent",
    swiftSettings: swiftSettings))

// MARK: - Persistence: artifact and event stores (in-memory, SQLite, PostgreSQL; events also Elasticsearch)
products.append(.library(name: "Persistence", targets: ["Persistence"]))
targets.append(.target(
    name: "Persistence",
    dependencies: [
        "VampModel", "VampConcurrency",
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "PersistenceTests",
    dependencies: [
        "Persistence", "VampModel", "VampTesting",
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    swiftSettings: swiftSettings))
// A child process for the SQLite crash-safety test: writes in a loop until SIGKILLed.
targets.append(.executableTarget(
    name: "PersistenceCrashWriter",
    dependencies: ["Persistence", "VampModel"],
    path: "Tests/PersistenceCrashWriter",
    swiftSettings: swiftSettings))

// MARK: - VampTesting: fixtures that start real servers for tests
products.append(.library(name: "VampTesting", targets: ["VampTesting"]))
// AsyncHTTPClient: the Chromium fixture speaks WebDriver (HTTP + JSON) to chromedriver.
targets.append(.target(name: "VampTesting", dependencies: ["HAProxyControl", "VampConcurrency", .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")], swiftSettings: swiftSettings))

// MARK: - ContainerDrivers: the ContainerDriver protocol and its drivers (local processes, Docker, Kubernetes, Marathon)
products.append(.library(name: "ContainerDrivers", targets: ["ContainerDrivers"]))
targets.append(.target(
    name: "ContainerDrivers",
    dependencies: [
        "VampModel", "VampConcurrency",
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        // Every driver is a Service: its background work runs in run().
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "ContainerDriversTests",
    dependencies: [
        "ContainerDrivers", "VampModel", "VampTesting",
        .product(name: "Configuration", package: "swift-configuration"),
        // Reads Documentation/kubernetes/*.yaml (KubernetesManifestsTests).
        .product(name: "Yams", package: "Yams"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        // The test bundle runs itself as the "server" that is SIGKILLed.
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    swiftSettings: swiftSettings))

// A child process for the container drivers' crash tests: runs a driver and works it until SIGKILLed.
targets.append(.executableTarget(
    name: "ContainerDriverCrashServer",
    dependencies: [
        "ContainerDrivers", "VampModel",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    path: "Tests/ContainerDriverCrashServer",
    swiftSettings: swiftSettings))

// The example service of Examples/ and of the end-to-end tests: `sava --port N --text T [--upstream URL]` answers T
// on every path (with an upstream, T and what the upstream answered).
products.append(.executable(name: "sava", targets: ["Sava"]))
targets.append(.executableTarget(
    name: "Sava",
    dependencies: [
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
    ],
    path: "Examples/Sava",
    swiftSettings: swiftSettings))

// MARK: - VampCore: the coordinator (planning as pure functions; repository and services come with the server)
products.append(.library(name: "VampCore", targets: ["VampCore"]))
targets.append(.target(
    name: "VampCore",
    dependencies: [
        "VampModel", "VampDSL", "HAProxyConfigGen", "Persistence", "KVStores", "ContainerDrivers", "VampConcurrency", "VampPulse",
        "VampReleases", "VampStatistics",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampCoreTests",
    dependencies: [
        "VampCore", "VampModel", "VampDSL", "HAProxyConfigGen", "KVStores", "Persistence", "ContainerDrivers", "VampConcurrency", "VampTesting",
        "VampPulse", "VampReleases", "VampStatistics",
        // The all-or-nothing tests inject a failure inside the real databases (a trigger).
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
    ],
    swiftSettings: swiftSettings))

// MARK: - VampAccess: API tokens, their roles and who may do what (no HTTP)
products.append(.library(name: "VampAccess", targets: ["VampAccess"]))
targets.append(.target(
    name: "VampAccess",
    dependencies: [
        "Persistence",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampAccessTests",
    dependencies: ["VampAccess", "Persistence", .product(name: "Logging", package: "swift-log")],
    swiftSettings: swiftSettings))

// MARK: - VampWebUI: the web UI's files (Sources/VampWebUI/Assets), compiled into the library by a build plugin so that
// vamp-server needs no file beside it
products.append(.library(name: "VampWebUI", targets: ["VampWebUI"]))
// Reads the assets folder and writes one Swift file holding every file and a version hash (run by the plugin).
targets.append(.executableTarget(name: "WebUIAssetEmbedder", path: "Plugins/WebUIAssetEmbedder", swiftSettings: swiftSettings))
targets.append(.plugin(name: "EmbedWebUIAssets", capability: .buildTool(), dependencies: ["WebUIAssetEmbedder"]))
targets.append(.target(
    name: "VampWebUI",
    exclude: ["Assets"],
    swiftSettings: swiftSettings,
    plugins: ["EmbedWebUIAssets"]))
targets.append(.testTarget(name: "VampWebUITests", dependencies: ["VampWebUI"], swiftSettings: swiftSettings))

// MARK: - VampAPI: the REST API of Vamp 0.9.5 on Hummingbird (maps HTTP to VampCore's facade, no business rules)
products.append(.library(name: "VampAPI", targets: ["VampAPI"]))
targets.append(.target(
    name: "VampAPI",
    dependencies: [
        "VampAccess", "VampCore", "VampDSL", "VampModel", "Persistence", "VampPulse", "VampWebUI", "VampReleases",
        .product(name: "Hummingbird", package: "hummingbird"),
        // The original's `/websocket` API (WebSocketAPI.swift).
        .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        // The HTTP/1 channel with the connection limits before its decoder (HTTPServer.swift) logs as Hummingbird does.
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        // TLS with a certificate reloaded while the server runs, and a bound on the handshake (TLS/); a secret's
        // certificate read and checked.
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        // The SHA-256 fingerprint of a secret's certificate.
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        // Converts the OpenAPI document to JSON for /api/v1/openapi.json.
        .product(name: "Yams", package: "Yams"),
    ],
    // The OpenAPI document served at /api/v1/openapi.yaml; Documentation/openapi.yaml is a symlink to it.
    resources: [.copy("Resources/openapi.yaml")],
    swiftSettings: swiftSettings))

targets.append(.testTarget(
    name: "VampAPITests",
    dependencies: [
        "VampAPI", "VampAccess", "VampCore", "VampModel", "Persistence", "VampWebUI",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        // schemathesis runs as a child process; hostile bodies are streamed by AsyncHTTPClient.
        .product(name: "Subprocess", package: "swift-subprocess"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
    ],
    swiftSettings: swiftSettings))

// MARK: - VampServerKit: vamp-server as a library (one table of settings, one stack per namespace, one ServiceGroup)
products.append(.library(name: "VampServerKit", targets: ["VampServerKit"]))
targets.append(.target(
    name: "VampServerKit",
    dependencies: [
        "VampAPI", "VampAccess", "VampCore", "VampModel", "Persistence", "KVStores", "HAProxyConfigGen", "HAProxyControl", "ContainerDrivers", "GatewayAgent", "VampPulse",
        "VampWebUI", "VampReleases",
        // The releases' webhooks.
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        // The configured tokens' file.
        .product(name: "Yams", package: "Yams"),
    ],
    swiftSettings: swiftSettings))

// MARK: - vamp-server: parses its flags and runs VampServerKit
products.append(.executable(name: "vamp-server", targets: ["VampServer"]))
targets.append(.executableTarget(
    name: "VampServer",
    dependencies: [
        "VampServerKit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Configuration", package: "swift-configuration"),
    ],
    path: "Hosts/VampServer",
    swiftSettings: swiftSettings))

targets.append(.testTarget(
    name: "VampServerTests",
    dependencies: [
        "VampTesting", "KVStores",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
    ],
    swiftSettings: swiftSettings))

// MARK: - End to end: vamp-server with its embedded agent, real HAProxy, the local-process driver and sava processes
targets.append(.testTarget(
    name: "EndToEndTests",
    dependencies: [
        "VampTesting",
        "KVStores",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
    ],
    swiftSettings: swiftSettings))

// MARK: - VampClient: a typed async client of the REST API (for the CLI and any Swift program)
products.append(.library(name: "VampClient", targets: ["VampClient"]))
targets.append(.target(
    name: "VampClient",
    dependencies: [
        "VampModel", "VampDSL",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        // Trusting the CA file of a server's certificate.
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampClientTests",
    dependencies: ["VampClient", "VampModel", "VampTesting"],
    swiftSettings: swiftSettings))

// MARK: - vamp: the command-line interface
products.append(.executable(name: "vamp", targets: ["VampCLI"]))
targets.append(.executableTarget(
    name: "VampCLI",
    dependencies: [
        "VampModel", "VampDSL", "VampClient",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    path: "Hosts/VampCLI",
    swiftSettings: swiftSettings))
targets.append(.testTarget(
    name: "VampCLITests",
    // VampCLI itself for the pure printing (ReleaseText); the rest runs the built executable.
    dependencies: ["VampCLI", "VampClient", "VampDSL", "VampModel", "VampTesting"],
    // The golden tables, read from the source tree so that VAMP_RECORD_GOLDEN=1 can rewrite them.
    exclude: ["Golden"],
    swiftSettings: swiftSettings))

// The benchmark programs (Benchmarks/) are a package of their own that uses these library products by path, so
// that building this package builds its products and tests only: see Benchmarks/Package.swift for the commands.

let package = Package(
    name: "Vamp",
    platforms: [.macOS(.v15)],
    products: products,
    dependencies: dependencies,
    targets: targets
)
