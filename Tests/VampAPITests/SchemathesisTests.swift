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
        guard let executable = Self.schemathesis() else {
            Issue.record("schemathesis is not on PATH; install it: pip install schemathesis")
            return
        }
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-schemathesis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await app.test(.live) { client in
            // VAMP_SCHEMATHESIS_EXAMPLES raises the examples per operation for a longer hunt (default 25, about 25 s).
            let examples = ProcessInfo.processInfo.environment["VAMP_SCHEMATHESIS_EXAMPLES"].flatMap { Int($0) } ?? 25
            let base = "http://127.0.0.1:\(try #require(client.port))/api/v1"
            let started = ContinuousClock.now
            let result = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: [
                    "run", "\(base)/openapi.yaml", "--url", base,
                    "--checks", "not_a_server_error",
                    // Bounded and reproducible: a fixed seed, one worker, a few examples per operation.
                    // (No --max-time: with it, fuzzing repeats until the budget is spent.)
                    "--seed", "20260101", "--workers", "1", "--max-examples", String(examples),
                    "--phases", "examples,coverage,fuzzing",
                    "--request-timeout", "10", "--generation-database", "none", "--no-color",
                    // The SSE stream never ends by design; every request to it would wait out the timeout.
                    "--exclude-path-regex", "events/stream",
                ],
                workingDirectory: FilePath(folder.path),
                output: .string(limit: 8 << 20), error: .combinedWithOutput)
            let output = result.standardOutput
            print("schemathesis took \(ContinuousClock.now - started)\n" + output.split(separator: "\n").suffix(15).joined(separator: "\n"))
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
        guard let executable = Self.schemathesis() else {
            Issue.record("schemathesis is not on PATH; install it: pip install schemathesis")
            return
        }
        // With tokens, as vamp-server runs: the requests carry an admin token (so that every operation may run), and
        // `ignored_auth` checks that a request without it is refused.
        let store = InMemoryArtifactStore()
        let secret = "schemathesis-admin-0123456789abcdef0123"
        let (salt, hash) = TokenSecret.hash(secret)
        let admin = AccessToken(name: "schemathesis", role: .admin, created: Date(), createdBy: "test", id: nil, salt: salt, hash: hash)
        let registry = TokenRegistry(store: store, configured: [admin], logger: Logger(label: "tokens"))
        let vamp = Vamp(artifacts: store)
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .tokens(registry)), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-schemathesis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokens = Task { try await registry.run() }
        defer { tokens.cancel() }
        try await app.test(.live) { client in
            let examples = ProcessInfo.processInfo.environment["VAMP_SCHEMATHESIS_EXAMPLES"].flatMap { Int($0) } ?? 25
            let base = "http://127.0.0.1:\(try #require(client.port))/api/v1"
            let started = ContinuousClock.now
            let result = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: [
                    "--config-file", Self.configuration,
                    "run", "\(base)/openapi.yaml", "--url", base,
                    // Every check but use_after_free, which a validate_only dry-run DELETE misleads (schemathesis.toml says why).
                    "--checks", "all", "--exclude-checks", "use_after_free",
                    // One worker: with two, hypothesis's lambda descriptions race (a schemathesis "Runtime Error").
                    "--header", "Authorization: Bearer \(secret)",
                    "--seed", "20260101", "--workers", "1", "--max-examples", String(examples),
                    "--phases", "examples,coverage,fuzzing,stateful",
                    "--request-timeout", "10", "--generation-database", "none", "--no-color",
                    "--exclude-path-regex", "events/stream",
                ],
                workingDirectory: FilePath(folder.path),
                output: .string(limit: 16 << 20), error: .combinedWithOutput)
            let output = result.standardOutput
            print("schemathesis --checks all took \(ContinuousClock.now - started)\n" + output.split(separator: "\n").suffix(25).joined(separator: "\n"))
            #expect(result.terminationStatus.isSuccess, "schemathesis reported failures:\n\(output)")
        }
    }
}
