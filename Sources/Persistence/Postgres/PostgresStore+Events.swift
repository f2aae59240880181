public import Foundation
import Logging
import PostgresNIO
import VampConcurrency
public import VampModel

/// The events of ``PostgresStore``: append, query, aggregate, retention, and the live subscriptions.
extension PostgresStore {
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

    static func bindings(_ arguments: [EventSQL.Argument]) -> PostgresBindings {
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

    func newestFirst(
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

    func event(seq: Int64) async throws -> Event? {
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
