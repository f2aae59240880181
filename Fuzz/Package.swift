// swift-tools-version: 6.1
import PackageDescription

// The libFuzzer targets, a package of their own (like Benchmarks/) so that their sanitizer build has its own scratch
// path and builds only the root products they reach. One executable per parser; each exports
// `LLVMFuzzerTestOneInput` and has no `main` of its own (libFuzzer's), so it only links with the fuzzer sanitizer:
//
//   Scripts/fuzz [seconds-per-target]      # builds, then runs every target on a copy of Fuzz/Corpus/<target>
//
// or by hand (Documentation/fuzzing.md):
//
//   swift build --package-path Fuzz --scratch-path /var/tmp/vamp-swift-build-fuzz \
//       --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address
//   SWIFT_BACKTRACE=enable=no /var/tmp/vamp-swift-build-fuzz/debug/fuzz-condition \
//       -dict=Fuzz/Dictionaries/fuzz-condition.dict CORPUS_COPY
//
// (`--sanitize=fuzzer --sanitize=address` is not the same: swiftc keeps the last -sanitize= flag, and the code gets
// no coverage counters.)

/// The root package's settings, plus `-parse-as-library`: the targets have no top-level code and no `@main`.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-parse-as-library"]),
]

let package = Package(
    name: "VampFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package, named so whatever its folder is called (the identity of a path dependency is the folder's name).
        .package(name: "Vamp", path: "../"),
        // The root manifest's requirement; the `/websocket` reader reads YAML frames with it.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // DSLReader.read/load/readEach (what the API does with a request body), and the writer's round trip.
        .executableTarget(
            name: "fuzz-dsl-reader",
            dependencies: [.product(name: "VampDSL", package: "Vamp"), .product(name: "VampModel", package: "Vamp")],
            path: "DSLReader",
            swiftSettings: swiftSettings),
        // ConditionParser.parse, its canonical text, and the HAProxy configuration a gateway with the condition gets.
        .executableTarget(
            name: "fuzz-condition",
            dependencies: [.product(name: "VampModel", package: "Vamp"), .product(name: "HAProxyConfigGen", package: "Vamp")],
            path: "Condition",
            swiftSettings: swiftSettings),
        // ValueExpression.parse (`$cluster.host`, `${cluster.ports.web}`, `${config://key}`) and its written form.
        .executableTarget(
            name: "fuzz-value-reference",
            dependencies: [.product(name: "VampModel", package: "Vamp")],
            path: "ValueReference",
            swiftSettings: swiftSettings),
        // LogRecord.parse: HAProxy's JSON log lines, as the agent (bytes) and the aggregator (text) read them.
        .executableTarget(
            name: "fuzz-log-record",
            dependencies: [.product(name: "VampPulse", package: "Vamp")],
            path: "LogRecord",
            swiftSettings: swiftSettings),
        // WebSocketMessage.requests(in:): the frames of the `/websocket` API. The reader is internal to VampAPI, whose
        // sanitizer build would be the whole server (Hummingbird, NIO, GRDB, PostgresNIO: as long as the root's build)
        // and whose web UI plugin SwiftPM cannot build with `--sanitize=fuzzer`; its two files (Foundation and Yams only)
        // are compiled here through symbolic links, WebSocketMessage/WebSocketMessage.swift and YAMLValues.swift, so the
        // fuzzed code is the shipped code.
        .executableTarget(
            name: "fuzz-websocket-message",
            dependencies: [.product(name: "Yams", package: "Yams")],
            path: "WebSocketMessage",
            swiftSettings: swiftSettings),
    ]
)
