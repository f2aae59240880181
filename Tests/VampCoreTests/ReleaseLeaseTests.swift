import Foundation
import Logging
import Persistence
import PostgresNIO
import Synchronization
import Testing
import VampCore
import VampDSL
import VampModel
import VampReleases
import VampTesting

/// Two servers on one PostgreSQL, each with its own store, facade and release driver: only the holder of the lease
/// drives the releases (whichever server stored them), and when it stops the other takes over within the lease.
@Suite("Releases: two servers on one PostgreSQL, one driver by a lease", .serialized)
struct ReleaseLeaseTests {
    /// Which server called which release's webhooks.
    final class Calls: Sendable {
        let calls = Mutex<[(server: String, release: String)]>([])
        func record(_ server: String, _ body: Data) {
            let release = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["release"] as? String ?? "?"
            calls.withLock { $0.append((server, release)) }
        }
        func servers(of release: String) -> [String] { calls.withLock { $0.filter { $0.release == release }.map(\.server) } }
    }

    @Test("a release stored on the second server is driven by the first, the lease holder; stopped, the second drives the next one within the lease")
    func oneServerDrives() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        var logger = Logger(label: "vamp.releases.tests")
        logger.logLevel = .error
        let configuration = PostgresClient.Configuration(
            host: server.host, port: server.port, username: server.username, password: nil, database: server.database, tls: .disable)
        let clients = [PostgresClient(configuration: configuration, backgroundLogger: logger), PostgresClient(configuration: configuration, backgroundLogger: logger)]
        let stores = try clients.map { try PostgresStore(client: $0, logger: logger) }
        let calls = Calls()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.run() } }
            defer { group.cancelAll() }
            for store in stores { try await store.migrate() }
            let facades = stores.map { Vamp(artifacts: $0, events: $0, logger: logger) }
            let drivers = (0..<2).map { index in
                ReleaseDriver(
                    vamp: facades[index],
                    configuration: .init(period: .milliseconds(200), holder: "server-\(index)", leaseTime: .seconds(3)) { _, body, _ in
                        calls.record("server-\(index)", body)
                        return (true, "HTTP 200")
                    },
                    logger: logger)
            }
            let first = Task { try await drivers[0].run() }
            try await Task.sleep(for: .milliseconds(500))
            let second = Task { try await drivers[1].run() }
            defer {
                first.cancel()
                second.cancel()
            }
            _ = try await facades[0].deploy(try DeploymentRequest.read(ReleaseDriverTests.blueprint))
            func release(_ name: String) throws -> [DSLDocument] {
                try DSLReader.read(ReleaseDocuments.sava(name, """
                    steps: [20%, 100%]
                    checks: {error_rate: {max_increase: 1%}}
                    webhooks: [{url: "http://127.0.0.1:1/hook", on: before_step}]
                    """))
            }
            func step(_ name: String, on facade: Vamp) async throws -> ReleaseState? { try await facade.release(named: name)?.record?.state }

            // Stored through the second server: the first, holding the lease, calls the webhook and takes the step.
            _ = try await facades[1].apply(try release("r1"))
            try await waitUntil(timeout: .seconds(10), "r1 at its first step") { try await step("r1", on: facades[1])?.weight == Percentage(20) }
            #expect(calls.servers(of: "r1") == ["server-0"])

            // The first driver stops; the release of the gateway after r1 is driven by the second, within the lease.
            first.cancel()
            _ = await first.result
            let stopped = ContinuousClock.now
            _ = try await facades[0].releaseCommand(.abort, release: "r1")
            _ = try await facades[0].apply(try release("r2"))
            try await waitUntil(timeout: .seconds(10), "r2 at its first step") { try await step("r2", on: facades[0])?.weight == Percentage(20) }
            let takeover = ContinuousClock.now - stopped
            #expect(calls.servers(of: "r2") == ["server-1"])
            #expect(calls.servers(of: "r1") == ["server-0"], "nobody called r1's hook again")
            #expect(takeover < .seconds(5), "taken over after \(takeover) (lease 3 s)")
            let timeline = try #require(try await step("r2", on: facades[1])).timeline.map(\.kind)
            #expect(timeline == [.started, .webhook, .advanced], "each decision once: \(timeline)")
        }
    }
}
