public import Foundation
public import Logging
public import PostgresNIO
import VampConcurrency
public import VampModel

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

    private let client: PostgresClient
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let broadcaster = EventBroadcaster()
    private let artifacts: String
    private let changeLog: String
    private let eventsTable: String
    private let tagsTable: String
    private let sql: EventSQL
    /// The NOTIFY channel for appended events, and this store's mark on its own notifications.
    private let eventsChannel: String
    /// The NOTIFY channel for committed artifact changes.
    private let artifactsChannel: String
    private let notices = Broadcast<Void>()
    private let instance = UUID().uuidString.lowercased()
    /// Key of the advisory lock that orders artifact writes ("vamp" in ASCII).
    private static let writeLock: Int64 = 0x7661_6D70

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

    private func transaction<T: Sendable>(
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

    private func record(_ connection: PostgresConnection, kind: String, name: String) async throws -> ArtifactRecord? {
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
    private func store(_ connection: PostgresConnection, _ outcome: ArtifactWriteOutcome, at time: Date) async throws {
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

    // MARK: Events

    @discardableResult
    public func append(_ event: Event) async throws -> Event {
        let prepared = try event.prepared()
        let tags = EventSQL.encodeTags(prepared.tags)
        let value = prepared.value?.encodedText()
        try await transaction("appending an event") { connection in
            var seq: Int64 = 0
            do {
                let rows = try await connection.query(
                    """
                    INSERT INTO \(unescaped: self.eventsTable) (id, type, occurred_at, tags, value)
                    VALUES (\(prepared.storedID), \(prepared.type), \(Millis.from(prepared.timestamp)), \(tags), \(value)::jsonb)
                    RETURNING seq
                    """, logger: self.logger)
                for try await inserted in rows.decode(Int64.self) { seq = inserted }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {  // unique_violation
                throw PersistenceError.duplicateEvent(prepared.storedID)
            }
            try await connection.query(
                """
                INSERT INTO \(unescaped: self.tagsTable) (tag, event_seq)
                SELECT unnest(\(Array(prepared.tags))::text[]), \(seq)
                """, logger: self.logger)
            // Delivered at commit to servers running receiveNotificationsFromOtherServers().
            try await connection.query(
                "SELECT pg_notify(\(self.eventsChannel), \(self.instance + ":" + String(seq)))", logger: self.logger)
        }
        broadcaster.publish(prepared)
        return prepared
    }

    private static func bindings(_ arguments: [EventSQL.Argument]) -> PostgresBindings {
        var bindings = PostgresBindings()
        for argument in arguments {
            switch argument {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            }
        }
        return bindings
    }

    public func events(matching query: EventQuery, page: PageRequest) async throws -> Page<Event> {
        let filter = sql.whereClause(query, range: try query.timestamp.resolved(now: now()))
        do {
            var total = 0
            let count = PostgresQuery(
                unsafeSQL: "SELECT COUNT(*) FROM \(eventsTable) e \(filter.sql)", binds: Self.bindings(filter.arguments))
            for try await value in try await client.query(count, logger: logger).decode(Int64.self) { total = Int(value) }
            let items = try await newestFirst(filter, limit: page.perPage, offset: page.offset)
            return Page(items: items, total: total, request: page)
        } catch {
            throw PersistenceError.storage("querying events", error)
        }
    }

    public func latest(matching query: EventQuery) async throws -> Event? {
        let filter = sql.whereClause(query, range: try query.timestamp.resolved(now: now()))
        do {
            return try await newestFirst(filter, limit: 1, offset: 0).first
        } catch {
            throw PersistenceError.storage("querying the latest event", error)
        }
    }

    private func newestFirst(
        _ filter: (sql: String, arguments: [EventSQL.Argument]), limit: Int, offset: Int
    ) async throws -> [Event] {
        let n = filter.arguments.count
        let select = PostgresQuery(
            unsafeSQL: """
                SELECT e.id, e.type, e.occurred_at, e.tags, e.value::text FROM \(eventsTable) e \(filter.sql)
                ORDER BY e.occurred_at DESC, e.seq DESC LIMIT $\(n + 1) OFFSET $\(n + 2)
                """,
            binds: Self.bindings(filter.arguments + [.integer(Int64(limit)), .integer(Int64(offset))]))
        var items: [Event] = []
        for try await (id, type, time, tags, value) in try await client.query(select, logger: logger).decode(
            (String, String, Int64, String, String?).self)
        {
            items.append(
                Event.stored(
                    id: id, tags: try EventSQL.decodeTags(tags), type: type, timestamp: Millis.date(time),
                    value: try value.map(JSONValue.decode(text:))))
        }
        return items
    }

    public func aggregate(_ aggregation: EventAggregation, matching query: EventQuery) async throws -> Double? {
        let path = (aggregation.field ?? "").isEmpty
            ? [] : (aggregation.field ?? "").split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let filter = sql.whereClause(query, range: try query.timestamp.resolved(now: now()), first: 2)
        var bindings = PostgresBindings()
        bindings.append(path)
        for argument in filter.arguments {
            switch argument {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            }
        }
        let statement = PostgresQuery(
            unsafeSQL: """
                SELECT COUNT(*), MIN(x), MAX(x), AVG(x), SUM(x)
                FROM (SELECT CASE WHEN jsonb_typeof(e.value #> $1::text[]) = 'number'
                             THEN (e.value #>> $1::text[])::float8 END AS x
                      FROM \(eventsTable) e \(filter.sql)) AS matched
                """,
            binds: bindings)
        do {
            for try await (count, min, max, average, sum) in try await client.query(statement, logger: logger).decode(
                (Int64, Double?, Double?, Double?, Double?).self)
            {
                switch aggregation.function {
                case .count: return Double(count)
                case .min: return min
                case .max: return max
                case .average: return average
                case .sum: return sum
                }
            }
            return nil
        } catch {
            throw PersistenceError.storage("aggregating events", error)
        }
    }

    public func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        broadcaster.subscribe(filter)
    }

    /// Delivers what *other* stores (other servers) on this database and table prefix do to this store's
    /// listeners, through PostgreSQL `LISTEN`/`NOTIFY`: the events they append to ``subscribe(_:)``'s subscribers,
    /// and a notice per artifact transaction they commit to ``changeNotices()``. Once listening it signals one
    /// change notice, so that a follower reads what was committed while nothing listened. Runs until its task is
    /// cancelled, or throws when the connection is lost; it holds one connection of the client's pool.
    /// ``PostgresNotificationRelay`` runs it as a `Service` and listens again after a lost connection. Events
    /// appended while it is not listening are not delivered (query for them instead).
    public func receiveNotificationsFromOtherServers() async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: self.eventsChannel) { events in
                try await connection.listen(on: self.artifactsChannel) { changes in
                    self.notices.signal()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await notification in changes where notification.payload != self.instance {
                                self.notices.signal()
                            }
                        }
                        group.addTask {
                            for try await notification in events {
                                let parts = notification.payload.split(separator: ":", maxSplits: 1)
                                guard parts.count == 2, parts[0] != self.instance, let seq = Int64(parts[1]) else { continue }
                                if let event = try await self.event(seq: seq) { self.broadcaster.publish(event) }
                            }
                        }
                        // Either sequence ending means the connection is gone: stop listening on both.
                        _ = try await group.next()
                        group.cancelAll()
                    }
                }
            }
        }
    }

    private func event(seq: Int64) async throws -> Event? {
        let rows = try await client.query(
            """
            SELECT id, type, occurred_at, tags, value::text FROM \(unescaped: eventsTable) WHERE seq = \(seq)
            """, logger: logger)
        for try await (id, type, time, tags, value) in rows.decode((String, String, Int64, String, String?).self) {
            return Event.stored(
                id: id, tags: try EventSQL.decodeTags(tags), type: type, timestamp: Millis.date(time),
                value: try value.map(JSONValue.decode(text:)))
        }
        return nil
    }

    @discardableResult
    public func deleteEvents(before cutoff: Date) async throws -> Int {
        let limit = Millis.from(cutoff)
        return try await transaction("deleting old events") { connection in
            let rows = try await connection.query(
                "DELETE FROM \(unescaped: self.eventsTable) WHERE occurred_at < \(limit) RETURNING seq", logger: self.logger)
            var deleted = 0
            for try await _ in rows.decode(Int64.self) { deleted += 1 }
            return deleted
        }
    }
}
