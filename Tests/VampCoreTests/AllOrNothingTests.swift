import Foundation
import GRDB
import Logging
import Persistence
import PostgresNIO
import Testing
import VampCore
import VampDSL
import VampModel
import VampTesting

/// One multi-document request: two breeds (one replacing a stored breed) and a deployment of the second. The
/// deployment's own row is written last, after its breeds and gateways: a failure there is a failure half-way.
private let request = """
    ---
    kind: breed
    name: a:1.0
    deployable: acme/new
    ---
    kind: breed
    name: b:1.0
    deployable: acme/b
    ports: {web: 8080/http}
    ---
    kind: deployment
    name: shop
    clusters:
      web:
        services:
          breed: b:1.0
    """

/// What the store holds, as a user sees it through the facade: every artifact's JSON, the archive events and the
/// position of the change log.
private struct Snapshot: Equatable {
    var artifacts: [String: String]
    var archived: Int
    var position: Int64

    static func of(_ vamp: Vamp) async throws -> Snapshot {
        var artifacts: [String: String] = [:]
        for kind in ArtifactKind.allCases where kind != .event {
            for item in try await vamp.list(kind, page: PageRequest(page: 1, perPage: 100)).items {
                artifacts["\(kind.plural)/\(item.name)"] = String(decoding: item.json, as: UTF8.self)
            }
        }
        let archived = try await vamp.events.events(matching: EventQuery(tags: ["archive"]), page: PageRequest()).total
        return Snapshot(artifacts: artifacts, archived: archived, position: try await vamp.changes.position())
    }
}

@Suite("Writes: all or nothing, on the real stores")
struct AllOrNothingTests {
    /// Stores a breed, fails the request above in its last write, and checks that nothing of it remains.
    static func halfFailedRequestLeavesNothing(_ vamp: Vamp) async throws {
        _ = try await vamp.apply(try DSLReader.read("kind: breed\nname: a:1.0\ndeployable: acme/old\n"))
        let before = try await Snapshot.of(vamp)
        let error = await #expect(throws: OperationError.self) {
            _ = try await vamp.apply(try DSLReader.read(request), requestBody: request)
        }
        #expect(error?.code == .unavailable)
        #expect(error?.cause != nil, "the store's error is kept as the cause")
        let after = try await Snapshot.of(vamp)
        #expect(after == before, "the store is as it was: no breed, no gateway, no deployment, no archive event, no change")
        #expect(after.artifacts["breeds/a:1.0"]?.contains("acme/old") == true)
        #expect(after.artifacts["breeds/b:1.0"] == nil)
        #expect(after.artifacts.keys.allSatisfy { !$0.hasPrefix("gateways/") })
    }

    @Test("SQLite: a request that fails in its last write (a trigger refuses the deployment's row) leaves the store as it was")
    func sqlite() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-core-sqlite")
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("vamp.sqlite").path
        let store = try SQLiteStore(configuration: .init(path: path))
        // The failure comes from inside the database, as a full disk or a constraint would.
        let database = try DatabaseQueue(path: path)
        try await database.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_shop BEFORE INSERT ON artifacts WHEN NEW.name = 'shop' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        }
        for cacheReads in [false, true] {
            try await database.write { db in try db.execute(sql: "DELETE FROM artifacts") }
            try await Self.halfFailedRequestLeavesNothing(Vamp(artifacts: store, events: store, configuration: .init(cacheReads: cacheReads)))
        }
    }

    @Test("PostgreSQL: a request that fails in its last write (a trigger refuses the deployment's row) leaves the store as it was")
    func postgres() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        var logger = Logger(label: "vamp.core.tests")
        logger.logLevel = .error
        let client = PostgresClient(
            configuration: .init(host: server.host, port: server.port, username: server.username, password: nil, database: server.database, tls: .disable),
            backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = try PostgresStore(client: client, logger: logger)
            try await store.migrate()
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE FUNCTION refuse_shop() RETURNS trigger AS $$
                BEGIN
                    IF NEW.name = 'shop' THEN RAISE EXCEPTION 'injected failure'; END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql
                """))
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TRIGGER refuse_shop BEFORE INSERT ON vamp_artifacts FOR EACH ROW EXECUTE FUNCTION refuse_shop()"))
            try await Self.halfFailedRequestLeavesNothing(Vamp(artifacts: store, events: store))
        }
    }

    @Test("a multi-document request with a deployment is one commit: its breeds, gateways and deployment appear together")
    func oneCommit() async throws {
        let store = InMemoryArtifactStore()
        let vamp = Vamp(artifacts: store)
        let start = try await vamp.changes.position()
        let stored = try await vamp.apply(try DSLReader.read(request.replacingOccurrences(of: "acme/new", with: "acme/first")), requestBody: request)
        #expect(stored.map(\.name) == ["a:1.0", "b:1.0", "shop"], "answered in the order of the documents, deployments after the artifacts")
        let log = try await (store as any ArtifactStore).changes(after: start, limit: 100)
        #expect(Set(log.map { "\($0.kind)/\($0.name)" }) == ["breeds/a:1.0", "breeds/b:1.0", "gateways/shop/web/web", "deployments/shop"])
        let archive = try await vamp.events.events(matching: EventQuery(tags: ["archive"]), page: PageRequest())
        #expect(Set(archive.items.flatMap(\.tags)).isSuperset(of: ["breeds:a:1.0", "breeds:b:1.0", "deployments:shop", "archive:create"]))
    }
}
