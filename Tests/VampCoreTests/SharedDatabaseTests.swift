import Foundation
import Logging
import Persistence
import PostgresNIO
import Testing
import VampCore
import VampDSL
import VampModel
import VampTesting

/// Two servers on one PostgreSQL, as `vamp-server`s sharing a database run: each has its own client, store,
/// notification relay and facade.
@Suite("Two servers on one PostgreSQL")
struct SharedDatabaseTests {
    @Test("an artifact written through the first server reaches the second's change feed within 100 ms, with no resync")
    func secondServerSeesChanges() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        var logger = Logger(label: "vamp.core.tests")
        logger.logLevel = .error
        let configuration = PostgresClient.Configuration(
            host: server.host, port: server.port, username: server.username, password: nil, database: server.database, tls: .disable)
        let firstClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let secondClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let first = try PostgresStore(client: firstClient, logger: logger)
        let second = try PostgresStore(client: secondClient, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await firstClient.run() }
            group.addTask { await secondClient.run() }
            defer { group.cancelAll() }
            try await first.migrate()
            try await second.migrate()
            let relay = PostgresNotificationRelay(store: second, logger: logger)
            group.addTask { try await relay.run() }
            // The safety-net poll is an hour away: what arrives within the test came by notice.
            let writer = Vamp(artifacts: first, events: first)
            var settings = Vamp.Configuration()
            settings.changePollInterval = .seconds(3600)
            let reader = Vamp(artifacts: second, events: second, configuration: settings)
            var latencies: [Duration] = []
            for round in 1...5 {
                let changes = reader.changes.changes(after: try await reader.changes.position(), of: [.breed])
                var iterator = changes.makeAsyncIterator()
                let name = "web:\(round).0"
                let start = ContinuousClock.now
                _ = try await writer.apply(try DSLReader.read("kind: breed\nname: \(name)\ndeployable: acme/web\n"))
                let change = try await iterator.next()
                latencies.append(ContinuousClock.now - start)
                #expect(change?.name == name)
                #expect(try await reader.read(.breed, name: name) != nil, "the second server reads what the first wrote")
            }
            let median = latencies.sorted()[latencies.count / 2]
            #expect(median < .milliseconds(100), "from the first server's write to the second server's feed: \(latencies)")
            #expect(latencies.allSatisfy { $0 < .seconds(1) }, "\(latencies)")
        }
    }
}
