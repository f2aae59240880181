import Foundation
import Logging
import Persistence
import PostgresNIO
import Testing
import VampModel
import VampTesting

/// The two stores of one backend.
struct Stores: Sendable {
    let artifacts: any ArtifactStore
    let events: any EventStore
}

/// One implementation under test. `run` opens a fresh, empty store, hands the body two handles
/// on it (for in-memory both are the same object; for SQLite two connections to one file; for
/// PostgreSQL two clients on one database), and cleans up afterwards.
struct Backend: Sendable, CustomTestStringConvertible {
    let name: String
    let run: @Sendable (_ body: @Sendable (Stores, Stores) async throws -> Void) async throws -> Void

    var testDescription: String { name }

    func callAsFunction(_ body: @Sendable (Stores) async throws -> Void) async throws {
        try await run { first, _ in try await body(first) }
    }

    /// Every artifact store implementation.
    static let all: [Backend] = [inMemory, sqlite, postgres, elasticsearch]
    /// Every event store implementation.
    static let eventStores: [Backend] = all

    /// `ElasticsearchArtifactStore` and `ElasticsearchEventStore` against ``FakeElasticsearch``,
    /// two handles of each on one fake server.
    static let elasticsearch = Backend(name: "Elasticsearch (fake)") { body in
        let fake = try await FakeElasticsearch.start()
        do {
            let configuration = ElasticsearchEventStore.Configuration(url: fake.url, index: "vamp-pulse-events")
            let first = try ElasticsearchEventStore(configuration: configuration)
            let second = try ElasticsearchEventStore(configuration: configuration)
            try await first.prepareIndex()
            try await second.prepareIndex()
            let artifactConfiguration = ElasticsearchArtifactStore.Configuration(url: fake.url, index: "vamp-persistence")
            let firstArtifacts = try ElasticsearchArtifactStore(configuration: artifactConfiguration)
            let secondArtifacts = try ElasticsearchArtifactStore(configuration: artifactConfiguration)
            try await firstArtifacts.prepareIndices()
            try await secondArtifacts.prepareIndices()
            try await body(
                Stores(artifacts: firstArtifacts, events: first), Stores(artifacts: secondArtifacts, events: second))
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    static let inMemory = Backend(name: "in-memory") { body in
        let stores = Stores(artifacts: InMemoryArtifactStore(), events: InMemoryEventStore())
        try await body(stores, stores)
    }

    static let sqlite = Backend(name: "SQLite") { body in
        let folder = try TemporaryDirectory(prefix: "vamp-sqlite")
        defer { folder.remove() }
        let configuration = SQLiteStore.Configuration(path: folder.url.appendingPathComponent("vamp.sqlite").path)
        let first = try SQLiteStore(configuration: configuration)
        let second = try SQLiteStore(configuration: configuration)
        try await body(Stores(artifacts: first, events: first), Stores(artifacts: second, events: second))
    }

    static let postgres = Backend(name: "PostgreSQL") { body in
        try await withPostgresClients { firstClient, secondClient, logger in
            let first = try PostgresStore(client: firstClient, logger: logger)
            let second = try PostgresStore(client: secondClient, logger: logger)
            try await first.migrate()
            try await second.migrate()
            try await body(Stores(artifacts: first, events: first), Stores(artifacts: second, events: second))
        }
    }
}

/// Two running `PostgresClient`s (as two servers would have) on a fresh database of the shared PostgreSQL server.
func withPostgresClients(
    _ body: @Sendable (PostgresClient, PostgresClient, Logger) async throws -> Void
) async throws {
    let server = try await SharedPostgres.shared.server()
    let database = "test_" + UUID().uuidString.prefix(8).lowercased()
    try server.createDatabase(database)
    var logger = Logger(label: "vamp.persistence.tests")
    logger.logLevel = .error
    let configuration = PostgresClient.Configuration(
        host: server.host, port: server.port, username: server.username, password: nil, database: database,
        tls: .disable)
    let firstClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
    let secondClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await firstClient.run() }
        group.addTask { await secondClient.run() }
        defer { group.cancelAll() }
        try await body(firstClient, secondClient, logger)
    }
}

/// One PostgreSQL server for the whole test run; each test gets its own database on it.
actor SharedPostgres {
    static let shared = SharedPostgres()
    private var starting: Task<PostgresServer, any Error>?

    func server() async throws -> PostgresServer {
        if let starting { return try await starting.value }
        let task = Task { try await PostgresServer.start() }
        starting = task
        return try await task.value
    }
}

extension Data {
    init(json: String) { self.init(json.utf8) }
}

/// `body`'s result, or a failure naming `what` when it takes longer than `limit`: a lost notice fails the test
/// instead of hanging it.
func within<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw FixtureError("\(what) did not happen within \(limit)")
        }
        return value
    }
}

/// Waits for the next element of `stream`; fails the test when the stream ends instead.
func nextElement<Element: Sendable>(of stream: AsyncStream<Element>) async throws -> Element {
    var iterator = stream.makeAsyncIterator()
    guard let element = await iterator.next() else { throw FixtureError("the stream ended") }
    return element
}
