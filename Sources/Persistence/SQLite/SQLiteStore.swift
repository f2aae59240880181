public import Foundation
import GRDB
import VampConcurrency
public import VampModel

/// Artifacts and events in one SQLite file (the default store of a single `vamp-server`).
///
/// The database runs in WAL mode; writes are `BEGIN IMMEDIATE` transactions, so the version
/// check and the change log entry of one write, or of every write of a batch, are atomic, also
/// against another process that opened the same file. ``changeNotices()`` signals after every
/// commit of this store object; another process on the same file cannot signal it, so a
/// ``ArtifactStore/followChanges(after:pollInterval:batchSize:)`` sees that process's writes at its
/// next poll. See `Documentation/persistence.md` for the schema.
public final class SQLiteStore: ArtifactStore, EventStore {
    /// How to open the database.
    public struct Configuration: Sendable {
        /// When SQLite flushes to disk.
        public enum Synchronous: String, Sendable {
            /// fsync at every commit: an acknowledged write survives a power cut. The default.
            case full = "FULL"
            /// fsync at checkpoints only: in WAL mode an acknowledged write survives a crash
            /// of the process, but the last commits may be lost in a power cut. Faster.
            case normal = "NORMAL"
        }

        /// The database file; created with its folder when missing, owner-only (0600, the folder 0700).
        public var path: String
        /// Durability of commits; ``Synchronous/full`` by default.
        public var synchronous: Synchronous
        /// How long a writer waits for another process's write lock before failing.
        public var busyTimeout: Duration

        /// Creates a configuration; the defaults match `vamp-server`'s `./.vamp/vamp.sqlite`.
        public init(path: String = ".vamp/vamp.sqlite", synchronous: Synchronous = .full, busyTimeout: Duration = .seconds(10)) {
            self.path = path
            self.synchronous = synchronous
            self.busyTimeout = busyTimeout
        }
    }

    private let pool: DatabasePool
    private let broadcaster = EventBroadcaster()
    private let notices = Broadcast<Void>()
    private let now: @Sendable () -> Date
    private static let sql = EventSQL(placeholder: { _ in "?" }, eventsTable: "events", tagsTable: "event_tags")

    /// Opens (and creates or migrates) the database.
    public init(configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.now = now
        let folder = URL(fileURLWithPath: configuration.path).deletingLastPathComponent()
        do {
            // Owner-only: a new folder 0700, a new database 0600 (SQLite gives its -wal and -shm the database's mode).
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if !FileManager.default.fileExists(atPath: configuration.path) {
                _ = FileManager.default.createFile(atPath: configuration.path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            var config = GRDB.Configuration()
            let seconds = Double(configuration.busyTimeout.components.seconds)
            config.busyMode = .timeout(seconds)
            let synchronous = configuration.synchronous.rawValue
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                try db.execute(sql: "PRAGMA foreign_keys = ON")
            }
            pool = try DatabasePool(path: configuration.path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw PersistenceError.storage("opening SQLite database \(configuration.path)", error)
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE artifacts (
                        kind TEXT NOT NULL,
                        name TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        PRIMARY KEY (kind, name)
                    ) WITHOUT ROWID;
                    CREATE TABLE artifact_changes (
                        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                        operation TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        name TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        changed_at INTEGER NOT NULL,
                        body BLOB
                    );
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        type TEXT NOT NULL,
                        occurred_at INTEGER NOT NULL,
                        tags TEXT NOT NULL,
                        value TEXT
                    );
                    CREATE INDEX events_by_time ON events (occurred_at, seq);
                    CREATE TABLE event_tags (
                        tag TEXT NOT NULL,
                        event_seq INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
                        PRIMARY KEY (tag, event_seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX event_tags_by_event ON event_tags (event_seq);
                    """)
        }
        return migrator
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a
    /// read-then-write never fails half-way with `SQLITE_BUSY` against another process.
    private func writeTransaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw PersistenceError.storage(what, error)
        }
    }

    private func readOnly<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw PersistenceError.storage(what, error)
        }
    }

    // MARK: Artifacts

    private static func record(_ row: Row) -> ArtifactRecord {
        ArtifactRecord(
            kind: row["kind"], name: row["name"], version: row["version"], body: row["body"],
            createdAt: Millis.date(row["created_at"]), updatedAt: Millis.date(row["updated_at"]))
    }

    public func write(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome] {
        guard !batch.isEmpty else { return [] }
        let time = Millis.normalized(now())
        let what = batch.count == 1 ? batch[0].summary : "writing a batch of \(batch.count) artifacts"
        let outcomes = try await writeTransaction(what) { db in
            var stored: [ArtifactKey: ArtifactRecord] = [:]
            for key in ArtifactWrite.keys(of: batch) {
                stored[key] = try Row.fetchOne(
                    db, sql: "SELECT * FROM artifacts WHERE kind = ? AND name = ?", arguments: [key.kind, key.name]
                ).map(Self.record)
            }
            let outcomes = try ArtifactWrite.outcomes(of: batch, applyingTo: stored, at: time)
            for (index, outcome) in outcomes.enumerated() where outcome.changesSomething {
                do { try Self.store(db, outcome, at: time) } catch { throw batch[index].failure(error, at: index, of: batch.count) }
            }
            return outcomes
        }
        if outcomes.contains(where: \.changesSomething) { notices.signal() }
        return outcomes
    }

    /// Writes the outcome's record and its change log entry.
    private static func store(_ db: Database, _ outcome: ArtifactWriteOutcome, at time: Date) throws {
        guard let change = outcome.change(sequence: 0, at: time) else { return }
        let millis = Millis.from(time)
        switch change.operation {
        case .create:
            try db.execute(
                sql: "INSERT INTO artifacts (kind, name, version, body, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)",
                arguments: [change.kind, change.name, change.body, millis, millis])
        case .update:
            try db.execute(
                sql: "UPDATE artifacts SET version = ?, body = ?, updated_at = ? WHERE kind = ? AND name = ?",
                arguments: [change.version, change.body, millis, change.kind, change.name])
        case .delete:
            try db.execute(
                sql: "DELETE FROM artifacts WHERE kind = ? AND name = ?", arguments: [change.kind, change.name])
        }
        try db.execute(
            sql: "INSERT INTO artifact_changes (operation, kind, name, version, changed_at, body) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [change.operation.rawValue, change.kind, change.name, change.version, millis, change.body])
    }

    public func read(kind: String, name: String) async throws -> ArtifactRecord? {
        try await readOnly("reading \(kind) '\(name)'") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM artifacts WHERE kind = ? AND name = ?", arguments: [kind, name])
                .map(Self.record)
        }
    }

    public func list(kind: String, page: PageRequest) async throws -> Page<ArtifactRecord> {
        try await readOnly("listing \(kind)") { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM artifacts WHERE kind = ?", arguments: [kind]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM artifacts WHERE kind = ? ORDER BY name LIMIT ? OFFSET ?",
                arguments: [kind, page.perPage, page.offset])
            return Page(items: rows.map(Self.record), total: total, request: page)
        }
    }

    public func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange] {
        try await readOnly("reading the change log") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM artifact_changes WHERE sequence > ? ORDER BY sequence LIMIT ?",
                arguments: [sequence, max(0, limit)]
            ).map { row in
                guard let operation = ArtifactChange.Operation(rawValue: row["operation"]) else {
                    throw PersistenceError(
                        code: .corruptRecord, message: "change \(row["sequence"] as Int64) has an unknown operation")
                }
                return ArtifactChange(
                    sequence: row["sequence"], operation: operation, kind: row["kind"], name: row["name"],
                    version: row["version"], timestamp: Millis.date(row["changed_at"]), body: row["body"])
            }
        }
    }

    public func lastChangeSequence() async throws -> Int64 {
        try await readOnly("reading the change log") { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM artifact_changes") ?? 0
        }
    }

    public func changeNotices() -> AsyncStream<Void> {
        notices.subscribe()
    }

    // MARK: Events

    @discardableResult
    public func append(_ event: Event) async throws -> Event {
        let prepared = try event.prepared()
        try await writeTransaction("appending an event") { db in
            do {
                try db.execute(
                    sql: "INSERT INTO events (id, type, occurred_at, tags, value) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        prepared.storedID, prepared.type, Millis.from(prepared.timestamp), EventSQL.encodeTags(prepared.tags),
                        prepared.value?.encodedText(),
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw PersistenceError.duplicateEvent(prepared.storedID)
            }
            let seq = db.lastInsertedRowID
            for tag in prepared.tags {
                try db.execute(sql: "INSERT INTO event_tags (tag, event_seq) VALUES (?, ?)", arguments: [tag, seq])
            }
        }
        broadcaster.publish(prepared)
        return prepared
    }

    private static func arguments(_ arguments: [EventSQL.Argument]) -> StatementArguments {
        StatementArguments(
            arguments.map { argument -> (any DatabaseValueConvertible)? in
                switch argument {
                case .text(let text): return text
                case .integer(let integer): return integer
                }
            })
    }

    private static func event(_ row: Row) throws -> Event {
        let valueText: String? = row["value"]
        return Event.stored(
            id: row["id"], tags: try EventSQL.decodeTags(row["tags"]), type: row["type"],
            timestamp: Millis.date(row["occurred_at"]), value: try valueText.map(JSONValue.decode(text:)))
    }

    public func events(matching query: EventQuery, page: PageRequest) async throws -> Page<Event> {
        let filter = Self.sql.whereClause(query, range: try query.timestamp.resolved(now: now()))
        return try await readOnly("querying events") { db in
            let total =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM events e \(filter.sql)", arguments: Self.arguments(filter.arguments))
                ?? 0
            let items = try Self.newestFirst(db, filter, limit: page.perPage, offset: page.offset)
            return Page(items: items, total: total, request: page)
        }
    }

    public func latest(matching query: EventQuery) async throws -> Event? {
        let filter = Self.sql.whereClause(query, range: try query.timestamp.resolved(now: now()))
        return try await readOnly("querying the latest event") { db in
            try Self.newestFirst(db, filter, limit: 1, offset: 0).first
        }
    }

    private static func newestFirst(
        _ db: Database, _ filter: (sql: String, arguments: [EventSQL.Argument]), limit: Int, offset: Int
    ) throws -> [Event] {
        try Row.fetchAll(
            db,
            sql: "SELECT e.* FROM events e \(filter.sql) ORDER BY e.occurred_at DESC, e.seq DESC LIMIT ? OFFSET ?",
            arguments: arguments(filter.arguments + [.integer(Int64(limit)), .integer(Int64(offset))])
        ).map(event)
    }

    public func aggregate(_ aggregation: EventAggregation, matching query: EventQuery) async throws -> Double? {
        // The JSON path of the field: `$` for the value itself, `$."a"."b"` for a dotted path.
        var path = "$"
        if let field = aggregation.field, !field.isEmpty {
            for key in field.split(separator: ".", omittingEmptySubsequences: false) { path += ".\"\(key)\"" }
        }
        let filter = Self.sql.whereClause(query, range: try query.timestamp.resolved(now: now()))
        let function = aggregation.function
        let jsonPath = path
        return try await readOnly("aggregating events") { db in
            let sql = """
                SELECT COUNT(*) AS matched, MIN(x) AS min, MAX(x) AS max, AVG(x) AS average, SUM(x) AS sum
                FROM (SELECT CASE WHEN json_type(e.value, ?) IN ('integer', 'real')
                             THEN json_extract(e.value, ?) END AS x
                      FROM events e \(filter.sql))
                """
            guard
                let row = try Row.fetchOne(
                    db, sql: sql, arguments: Self.arguments([.text(jsonPath), .text(jsonPath)] + filter.arguments))
            else { return nil }
            switch function {
            case .count: return Double(row["matched"] as Int64)
            case .min: return row["min"]
            case .max: return row["max"]
            case .average: return row["average"]
            case .sum: return row["sum"]
            }
        }
    }

    public func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        broadcaster.subscribe(filter)
    }

    @discardableResult
    public func deleteEvents(before cutoff: Date) async throws -> Int {
        let limit = Millis.from(cutoff)
        return try await writeTransaction("deleting old events") { db in
            try db.execute(
                sql: "DELETE FROM event_tags WHERE event_seq IN (SELECT seq FROM events WHERE occurred_at < ?)",
                arguments: [limit])
            try db.execute(sql: "DELETE FROM events WHERE occurred_at < ?", arguments: [limit])
            return db.changesCount
        }
    }

    // MARK: Maintenance

    /// The result of `PRAGMA integrity_check`: `["ok"]` for a sound file.
    public func integrityCheck() async throws -> [String] {
        try await readOnly("checking integrity") { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }
}
