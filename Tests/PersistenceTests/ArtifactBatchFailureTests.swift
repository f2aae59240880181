import Foundation
import GRDB
import Persistence
import PostgresNIO
import Testing
import VampTesting

/// The "disk fails half-way" case on the real databases: the store's own write of the batch's second artifact
/// fails (a trigger another connection created), and nothing of the batch may stay.
@Suite("Batch writes: an injected failure half-way")
struct ArtifactBatchFailureTests {
    static let batch: [ArtifactWrite] = ["a", "b", "c"].map { .save(kind: "breeds", name: $0, body: Data(json: #"{"new":true}"#)) }

    /// Writes `batch` into a store whose write of `b` fails, checks the error and that nothing changed.
    static func expectNothingKept(_ store: any ArtifactStore, injected: String) async throws -> Persistence.PersistenceError? {
        _ = try await store.create(kind: "breeds", name: "a", body: Data(json: #"{"old":true}"#))
        let a = try await store.read(kind: "breeds", name: "a")
        let before = try await StoreState(store)
        let error = await #expect(throws: Persistence.PersistenceError.self) { try await store.write(batch) }
        #expect(error?.code == .storage)
        #expect(error?.kind == "breeds" && error?.name == "b")
        #expect(error?.message.contains("breeds 'b'") == true)
        #expect(error?.message.contains(injected) == true, "\(String(describing: error))")
        #expect(try await StoreState(store) == before)
        #expect(try await store.read(kind: "breeds", name: "a") == a)
        #expect(try await store.read(kind: "breeds", name: "c") == nil)
        return error
    }

    @Test("SQLite: a trigger aborts the insert of b; a's update is rolled back with it")
    func sqlite() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-sqlite-batch")
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("vamp.sqlite").path
        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
        // A second connection to the file, as another process would open it.
        let saboteur = try DatabaseQueue(path: path)
        try await saboteur.write { db in
            try db.execute(
                sql: "CREATE TRIGGER fail BEFORE INSERT ON artifacts WHEN NEW.name = 'b' BEGIN SELECT RAISE(ABORT, 'injected'); END")
        }
        let error = try await Self.expectNothingKept(store, injected: "injected")
        #expect(error?.cause is DatabaseError)

        try await saboteur.write { db in try db.execute(sql: "DROP TRIGGER fail") }
        let outcomes = try await store.write(Self.batch)
        #expect(outcomes.map { $0.record?.version } == [2, 1, 1])
        #expect(try await store.integrityCheck() == ["ok"])
    }

    @Test("PostgreSQL: a trigger raises on the insert of b; a's update is rolled back with it")
    func postgres() async throws {
        try await withPostgresClients { client, _, logger in
            let store = try PostgresStore(client: client, logger: logger)
            try await store.migrate()
            try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE FUNCTION fail_for_b() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            IF NEW.name = 'b' THEN RAISE EXCEPTION 'injected failure for %', NEW.name; END IF;
                            RETURN NEW;
                        END $$
                        """), logger: logger)
            try await client.query(
                "CREATE TRIGGER fail BEFORE INSERT ON vamp_artifacts FOR EACH ROW EXECUTE FUNCTION fail_for_b()",
                logger: logger)
            let error = try await Self.expectNothingKept(store, injected: "injected failure for b")
            #expect(error?.cause is PSQLError)

            try await client.query("DROP TRIGGER fail ON vamp_artifacts", logger: logger)
            let outcomes = try await store.write(Self.batch)
            #expect(outcomes.map { $0.record?.version } == [2, 1, 1])
        }
    }

    @Test("Elasticsearch (fake): the write of b fails with 500; a is put back as it was")
    func elasticsearch() async throws {
        let fake = try await FakeElasticsearch.start()
        do {
            let store = try ElasticsearchArtifactStore(
                configuration: ElasticsearchArtifactStore.Configuration(url: fake.url, index: "vamp-persistence"))
            try await store.prepareIndices()
            fake.state.failWrites(of: "breeds/b", in: "vamp-persistence")
            _ = try await Self.expectNothingKept(store, injected: "injected by the test")
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }
}
