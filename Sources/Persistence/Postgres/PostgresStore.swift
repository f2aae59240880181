public import Foundation
public import Logging
public import PostgresNIO
import VampConcurrency
import VampModel

/// Artifacts and events in PostgreSQL: the store several `vamp-server`s share.
///
/// Every artifact write, and every batch of them (``write(_:)``), is one transaction that first
/// takes a transaction-scoped advisory lock, so change log sequences commit in increasing order
/// (a batch's entries consecutive) and a reader polling `changes(after:)` never skips a change
/// committed late with a smaller sequence. The version checks run in the same transaction: of
/// two servers updating one artifact at the same expected version, exactly one wins and the
/// other gets `versionConflict`; a failing write rolls the whole batch back.
///
/// The same transaction sends `NOTIFY <prefix>artifacts`, delivered at commit. ``changeNotices()``
/// signals after this store's own commits and, while ``receiveNotificationsFromOtherServers()``
/// runs (``PostgresNotificationRelay``), after every other server's.
///
/// The caller owns the `PostgresClient` and must keep its `run()` going (in a `ServiceGroup`
/// or a task group) while the store is used. Call ``migrate()`` once before first use.
public final class PostgresStore: ArtifactStore, EventStore {
    /// Table naming.
    public struct Configuration: Sendable {
        /// Prepended to every table name, e.g. `vamp_` gives `vamp_artifacts`. Use one prefix per
        /// Vamp namespace to keep namespaces apart in one database. Letters, digits and `_` only.
        public var tablePrefix: String

        /// Creates a configuration.
        public init(tablePrefix: String = "vamp_") {
            self.tablePrefix = tablePrefix
        }
    }

    let client: PostgresClient
    let logger: Logger
    let now: @Sendable () -> Date
    let broadcaster = EventBroadcaster()
    let artifacts: String
    let changeLog: String
    let eventsTable: String
    let tagsTable: String
    let sql: EventSQL
    /// The NOTIFY channel for appended events, and this store's mark on its own notifications.
    let eventsChannel: String
    /// The NOTIFY channel for committed artifact changes.
    let artifactsChannel: String
    let notices = Broadcast<Void>()
    let instance = UUID().uuidString.lowercased()
    /// Key of the advisory lock that orders artifact writes ("vamp" in ASCII).
    static let writeLock: Int64 = 0x7661_6D70

    /// Creates a store on a client whose `run()` the caller keeps going.
    public init(
        client: PostgresClient, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "vamp.persistence.postgres"), now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        let prefix = configuration.tablePrefix
        guard prefix.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") })
        else {
            throw PersistenceError(
                code: .storage, message: "table prefix '\(prefix)' may only hold ASCII letters, digits and _")
        }
        self.client = client
        self.logger = logger
        self.now = now
        artifacts = prefix + "artifacts"
        changeLog = prefix + "artifact_changes"
        eventsTable = prefix + "events"
        tagsTable = prefix + "event_tags"
        eventsChannel = prefix + "events"
        artifactsChannel = prefix + "artifacts"
        sql = EventSQL(placeholder: { "$\($0)" }, eventsTable: prefix + "events", tagsTable: prefix + "event_tags")
    }

    /// Creates the tables and indexes that are missing. Safe to run from several servers at once.
    public func migrate() async throws {
        let statements = [
            """
            CREATE TABLE IF NOT EXISTS \(artifacts) (
                kind text NOT NULL, name text NOT NULL, version bigint NOT NULL, body bytea NOT NULL,
                created_at bigint NOT NULL, updated_at bigint NOT NULL, PRIMARY KEY (kind, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(changeLog) (
                sequence bigserial PRIMARY KEY, operation text NOT NULL, kind text NOT NULL, name text NOT NULL,
                version bigint NOT NULL, changed_at bigint NOT NULL, body bytea)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(eventsTable) (
                seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE, type text NOT NULL,
                occurred_at bigint NOT NULL, tags text NOT NULL, value jsonb)
            """,
            "CREATE INDEX IF NOT EXISTS \(eventsTable)_by_time ON \(eventsTable) (occurred_at, seq)",
            """
            CREATE TABLE IF NOT EXISTS \(tagsTable) (
                tag text NOT NULL, event_seq bigint NOT NULL REFERENCES \(eventsTable) (seq) ON DELETE CASCADE,
                PRIMARY KEY (tag, event_seq))
            """,
            "CREATE INDEX IF NOT EXISTS \(tagsTable)_by_event ON \(tagsTable) (event_seq)",
        ]
        try await transaction("creating the PostgreSQL schema") { connection in
            // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog: serialise.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLock + 1))", logger: self.logger)
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
            }
        }
    }

    func transaction<T: Sendable>(
        _ what: String, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            // A refusal from inside the transaction (conflict, not found) after a clean rollback.
            if let refusal = error.closureError as? PersistenceError, error.rollbackError == nil { throw refusal }
            throw PersistenceError.storage(what, error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch {
            throw PersistenceError.storage(what, error)
        }
    }

    // MARK: Artifacts

    public func write(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome] {
        guard !batch.isEmpty else { return [] }
        let time = Millis.normalized(now())
        let what = batch.count == 1 ? batch[0].summary : "writing a batch of \(batch.count) artifacts"
        let outcomes = try await transaction(what) { connection in
            // One lock for the batch orders its sequences with every other writer's; the notification is sent at
            // commit and dropped on rollback.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.writeLock)), pg_notify(\(self.artifactsChannel), \(self.instance))",
                logger: self.logger)
            var stored: [ArtifactKey: ArtifactRecord] = [:]
            for key in ArtifactWrite.keys(of: batch) {
                stored[key] = try await self.record(connection, kind: key.kind, name: key.name)
            }
            let outcomes = try ArtifactWrite.outcomes(of: batch, applyingTo: stored, at: time)
            for (index, outcome) in outcomes.enumerated() where outcome.changesSomething {
                do {
                    try await self.store(connection, outcome, at: time)
                } catch {
                    throw batch[index].failure(error, at: index, of: batch.count)
                }
            }
            return outcomes
        }
        if outcomes.contains(where: \.changesSomething) { notices.signal() }
        return outcomes
    }

    func record(_ connection: PostgresConnection, kind: String, name: String) async throws -> ArtifactRecord? {
        let rows = try await connection.query(
            """
            SELECT version, body, created_at, updated_at FROM \(unescaped: artifacts)
            WHERE kind = \(kind) AND name = \(name)
            """, logger: logger)
        for try await (version, body, created, updated) in rows.decode((Int64, ByteBuffer, Int64, Int64).self) {
            return ArtifactRecord(
                kind: kind, name: name, version: version, body: Data(body.readableBytesView),
                createdAt: Millis.date(created), updatedAt: Millis.date(updated))
        }
        return nil
    }

    /// Writes the outcome's record and its change log entry in one statement.
    func store(_ connection: PostgresConnection, _ outcome: ArtifactWriteOutcome, at time: Date) async throws {
        guard let change = outcome.change(sequence: 0, at: time) else { return }
        let (kind, name, version, millis) = (change.kind, change.name, change.version, Millis.from(time))
        let body = change.body.map { ByteBuffer(bytes: $0) }
        // A data-modifying WITH runs to completion whether or not the INSERT reads it.
        let statement: PostgresQuery = switch change.operation {
        case .create:
            """
            WITH written AS (
                INSERT INTO \(unescaped: artifacts) (kind, name, version, body, created_at, updated_at)
                VALUES (\(kind), \(name), \(version), \(body), \(millis), \(millis)) RETURNING body)
            INSERT INTO \(unescaped: changeLog) (operation, kind, name, version, changed_at, body)
            SELECT 'create', \(kind), \(name), \(version), \(millis), body FROM written
            """
        case .update:
            """
            WITH written AS (
                UPDATE \(unescaped: artifacts) SET version = \(version), body = \(body), updated_at = \(millis)
                WHERE kind = \(kind) AND name = \(name) RETURNING body)
            INSERT INTO \(unescaped: changeLog) (operation, kind, name, version, changed_at, body)
            SELECT 'update', \(kind), \(name), \(version), \(millis), body FROM written
            """
        case .delete:
            """
            WITH written AS (DELETE FROM \(unescaped: artifacts) WHERE kind = \(kind) AND name = \(name) RETURNING 1)
            INSERT INTO \(unescaped: changeLog) (operation, kind, name, version, changed_at)
            SELECT 'delete', \(kind), \(name), \(version), \(millis) FROM written
            """
        }
        try await connection.query(statement, logger: logger)
    }

    public func read(kind: String, name: String) async throws -> ArtifactRecord? {
        do {
            return try await client.withConnection { connection in
                try await self.record(connection, kind: kind, name: name)
            }
        } catch {
            throw PersistenceError.storage("reading \(kind) '\(name)'", error, kind: kind, name: name)
        }
    }

    public func list(kind: String, page: PageRequest) async throws -> Page<ArtifactRecord> {
        do {
            var total = 0
            for try await count in try await client.query(
                "SELECT COUNT(*) FROM \(unescaped: artifacts) WHERE kind = \(kind)", logger: logger
            ).decode(Int64.self) { total = Int(count) }
            let rows = try await client.query(
                """
                SELECT name, version, body, created_at, updated_at FROM \(unescaped: artifacts)
                WHERE kind = \(kind) ORDER BY name COLLATE "C" LIMIT \(Int64(page.perPage)) OFFSET \(Int64(page.offset))
                """, logger: logger)
            var items: [ArtifactRecord] = []
            for try await (name, version, body, created, updated) in rows.decode(
                (String, Int64, ByteBuffer, Int64, Int64).self)
            {
                items.append(
                    ArtifactRecord(
                        kind: kind, name: name, version: version, body: Data(body.readableBytesView),
                        createdAt: Millis.date(created), updatedAt: Millis.date(updated)))
            }
            return Page(items: items, total: total, request: page)
        } catch {
            throw PersistenceError.storage("listing \(kind)", error)
        }
    }

    public func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange] {
        do {
            let rows = try await client.query(
                """
                SELECT sequence, operation, kind, name, version, changed_at, body FROM \(unescaped: changeLog)
                WHERE sequence > \(sequence) ORDER BY sequence LIMIT \(Int64(max(0, limit)))
                """, logger: logger)
            var changes: [ArtifactChange] = []
            for try await (seq, operation, kind, name, version, time, body) in rows.decode(
                (Int64, String, String, String, Int64, Int64, ByteBuffer?).self)
            {
                guard let operation = ArtifactChange.Operation(rawValue: operation) else {
                    throw PersistenceError(code: .corruptRecord, message: "change \(seq) has an unknown operation")
                }
                changes.append(
                    ArtifactChange(
                        sequence: seq, operation: operation, kind: kind, name: name, version: version,
                        timestamp: Millis.date(time), body: body.map { Data($0.readableBytesView) }))
            }
            return changes
        } catch {
            throw PersistenceError.storage("reading the change log", error)
        }
    }

    public func lastChangeSequence() async throws -> Int64 {
        do {
            let rows = try await client.query(
                "SELECT COALESCE(MAX(sequence), 0)::bigint FROM \(unescaped: changeLog)", logger: logger)
            for try await sequence in rows.decode(Int64.self) { return sequence }
            return 0
        } catch {
            throw PersistenceError.storage("reading the change log", error)
        }
    }

    public func changeNotices() -> AsyncStream<Void> {
        notices.subscribe()
    }

}
