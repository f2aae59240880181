import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Persistence
import Subprocess
import SystemPackage
import Testing
import VampAccess
import VampAPI
import VampCore

/// schemathesis (PyPI) generates requests from the served OpenAPI document and sends them to a live server;
/// any 5xx fails the test with schemathesis's report.
@Suite("REST API: schemathesis against /api/v1/openapi.yaml")
struct SchemathesisTests {
    /// `schemathesis` on `PATH`, or nil.
    static func schemathesis() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { "\($0)/schemathesis" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("no generated request gets a 5xx (not_a_server_error, bounded and seeded)", .timeLimit(.minutes(4)))
    func noServerError() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        try await Self.run(router: VampHTTPAPI.router(vamp: vamp, access: .open), label: "schemathesis") { base in
            [
                "run", "\(base)/openapi.yaml", "--url", base,
                "--checks", "not_a_server_error",
                "--phases", "examples,coverage,fuzzing",
            ]
        }
    }

    /// Runs schemathesis against `router` on a live loopback server: the arguments `arguments(base)` gives, then the
    /// shared ones (bounded and reproducible: a fixed seed, one worker, `VAMP_SCHEMATHESIS_EXAMPLES` examples per
    /// operation, default 25; no --max-time, with which fuzzing repeats until the budget is spent; the SSE stream
    /// left out, as it never ends by design). Fails the test with schemathesis's report.
    static func run(
        router: Router<VampRequestContext>, label: String, _ arguments: @escaping @Sendable (String) -> [String]
    ) async throws {
        guard let executable = schemathesis() else {
            Issue.record("schemathesis is not on PATH; install it: pip install schemathesis")
            return
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-schemathesis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await app.test(.live) { client in
            let examples = ProcessInfo.processInfo.environment["VAMP_SCHEMATHESIS_EXAMPLES"].flatMap { Int($0) } ?? 25
            let base = "http://127.0.0.1:\(try #require(client.port))/api/v1"
            let started = ContinuousClock.now
            let result = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: Arguments(arguments(base) + [
                    "--seed", "20260101", "--workers", "1", "--max-examples", String(examples),
                    "--request-timeout", "10", "--generation-database", "none", "--no-color",
                    "--exclude-path-regex", "events/stream",
                ]),
                workingDirectory: FilePath(folder.path),
                output: .string(limit: 16 << 20), error: .combinedWithOutput)
            let output = result.standardOutput
            print("\(label) took \(ContinuousClock.now - started)\n" + output.split(separator: "\n").suffix(25).joined(separator: "\n"))
            #expect(result.terminationStatus.isSuccess, "schemathesis reported failures:\n\(output)")
        }
    }

    /// `Tests/VampAPITests/schemathesis.toml`: the few per-operation exceptions, each with its reason.
    static let configuration = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("schemathesis.toml").path

    /// Every check (`--checks all`: status codes, content types, headers and bodies as documented, valid data
    /// accepted, invalid data refused, 405 for undeclared methods, ...) in every phase, stateful included:
    /// the server does what `openapi.yaml` says. `VAMP_SCHEMATHESIS_EXAMPLES` raises the examples for a longer hunt.
    @Test("the server does what openapi.yaml says: --checks all, every phase, bounded and seeded", .timeLimit(.minutes(5)))
    func conformance() async throws {
        // With tokens, as vamp-server runs: the requests carry an admin token (so that every operation may run), and
        // `ignored_auth` checks that a request without it is refused.
        let store = InMemoryArtifactStore()
        let secret = "schemathesis-admin-0123456789abcdef0123"
        let (salt, hash) = TokenSecret.hash(secret)
        let admin = AccessToken(name: "schemathesis", role: .admin, created: Date(), createdBy: "test", id: nil, salt: salt, hash: hash)
        let registry = TokenRegistry(store: store, configured: [admin], logger: Logger(label: "tokens"))
        let router = VampHTTPAPI.router(vamp: Vamp(artifacts: store), access: .tokens(registry))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await registry.run() }
            try await Self.run(router: router, label: "schemathesis --checks all") { base in
                [
                    "--config-file", Self.configuration,
                    "run", "\(base)/openapi.yaml", "--url", base,
                    // Every check but use_after_free, which a validate_only dry-run DELETE misleads (schemathesis.toml says why).
                    "--checks", "all", "--exclude-checks", "use_after_free",
                    "--header", "Authorization: Bearer \(secret)",
                    // One worker (the shared arguments): with two, hypothesis's lambda descriptions race.
                    "--phases", "examples,coverage,fuzzing,stateful",
                ]
            }
            group.cancelAll()
        }
    }
}
