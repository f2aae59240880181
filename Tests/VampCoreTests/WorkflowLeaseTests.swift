import ContainerDrivers
import Foundation
import Logging
import Persistence
import PostgresNIO
import ServiceLifecycle
import Testing
import VampCore
import VampDSL
import VampModel
import VampTesting

/// Two servers on one PostgreSQL, each with its own store, facade, local process driver and workflow scheduler: only
/// the lease holder runs the schedule; when it stops, the other takes over, and no slot runs twice.
@Suite("Workflows: two servers on one PostgreSQL share the schedules by a lease", .serialized)
struct WorkflowLeaseTests {
    @Test("a time workflow every second runs on one server only; stopped, the other takes over within the lease; no slot twice")
    func oneServerRunsTheSchedule() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        let folder = try TemporaryDirectory(prefix: "workflow-lease")
        defer { folder.remove() }
        let logger: Logger = {
            var logger = Logger(label: "vamp.workflows.tests")
            logger.logLevel = .error
            return logger
        }()
        let configuration = PostgresClient.Configuration(
            host: server.host, port: server.port, username: server.username, password: nil, database: server.database, tls: .disable)
        let clients = [PostgresClient(configuration: configuration, backgroundLogger: logger), PostgresClient(configuration: configuration, backgroundLogger: logger)]
        let stores = try clients.map { try PostgresStore(client: $0, logger: logger) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.run() } }
            defer { group.cancelAll() }
            for store in stores { try await store.migrate() }
            for store in stores { group.addTask { try await PostgresNotificationRelay(store: store, logger: logger).run() } }
            var settings = Vamp.Configuration()
            settings.workflowDeployableTypes = ["command"]
            let facades = stores.map { Vamp(artifacts: $0, events: $0, configuration: settings, logger: logger) }
            let drivers = (0..<2).map { LocalProcessDriver(directory: folder.url.appendingPathComponent("driver-\($0)"), logger: logger) }
            let schedulers = (0..<2).map { index in
                WorkflowScheduler(
                    vamp: facades[index], driver: drivers[index],
                    settings: .init(
                        server: { WorkflowEnvironment.Server(url: "http://127.0.0.1:1", namespace: "test") },
                        holder: "server-\(index)", leaseTime: .seconds(3)),
                    logger: logger)
            }
            let first = Task { try await schedulers[0].run() }
            try await Task.sleep(for: .milliseconds(300))
            let second = Task { try await schedulers[1].run() }
            defer {
                first.cancel()
                second.cancel()
            }
            let document = try DSLReader.read("""
                kind: workflow
                name: beat
                breed: {name: beat, deployable: {type: command, definition: "true"}}
                schedule: {time: {period: PT1S}}
                """)
            _ = try await facades[0].apply(document)

            func runs() async throws -> [WorkflowRun] { try await facades[1].workflowRuns("beat") ?? [] }
            try await waitUntil(timeout: .seconds(20), "4 runs") { try await runs().filter { $0.outcome == "succeeded" }.count >= 4 }
            let before = try await runs()
            #expect(Set(before.compactMap(\.server)) == ["server-0"], "\(before)")

            first.cancel()
            _ = await first.result
            let stopped = Date()
            try await waitUntil(timeout: .seconds(20), "the second server runs it") {
                try await runs().contains { $0.server == "server-1" && $0.outcome == "succeeded" }
            }
            let takeover = try await runs().filter { $0.server == "server-1" }.map(\.started).min()!
            #expect(takeover.timeIntervalSince(stopped) < 3 + 1.5, "taken over after \(takeover.timeIntervalSince(stopped)) s (lease 3 s)")
            let slots = try await runs().compactMap(\.slot)
            #expect(Set(slots).count == slots.count, "a slot ran twice: \(slots)")
        }
    }
}
