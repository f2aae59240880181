// Measures artifact writes per second and the latest-by-tags event query on SQLite and a real
// PostgreSQL server (started here with fsync on). Build in release: Scripts/perf-persistence.
import Foundation
import GRDB
import Logging
import Persistence
import PostgresNIO
import VampModel
import VampTesting

let artifactWrites = Int(ProcessInfo.processInfo.environment["ARTIFACT_WRITES"] ?? "") ?? 2000
let eventCount = Int(ProcessInfo.processInfo.environment["EVENTS"] ?? "") ?? 20000
let queries = Int(ProcessInfo.processInfo.environment["QUERIES"] ?? "") ?? 500
/// With FILL_TO (e.g. 1000000), after the timed appends the event table is filled up to that many
/// events of the same shape by one bulk SQL insert, then appends and queries are timed again.
let fillTo = Int(ProcessInfo.processInfo.environment["FILL_TO"] ?? "") ?? 0
let appendsAtFill = 5000
let gateways = 200

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func report(_ label: String, _ value: Double, _ unit: String) {
    print("| \(label) | \(String(format: "%.1f", value)) \(unit) |")
}

/// Sequential creates then updates from one task, and creates from 8 concurrent tasks.
func measureArtifacts(_ label: String, _ store: any ArtifactStore) async throws {
    let clock = ContinuousClock()
    let body = Data(String(repeating: #"{"name":"sava","deployable":"magneticio/sava:1.0.0","ports":{"web":"8080/http"}}"#, count: 4).utf8)
    var elapsed = try await clock.measure {
        for index in 0..<artifactWrites { _ = try await store.create(kind: "breeds", name: "b\(index)", body: body) }
    }
    report("\(label): artifact create, 1 writer", Double(artifactWrites) / seconds(elapsed), "writes/s")
    elapsed = try await clock.measure {
        for index in 0..<artifactWrites {
            _ = try await store.update(kind: "breeds", name: "b\(index)", body: body, expectedVersion: 1)
        }
    }
    report("\(label): artifact update, 1 writer", Double(artifactWrites) / seconds(elapsed), "writes/s")
    elapsed = try await clock.measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<(artifactWrites / 8) {
                        _ = try await store.create(kind: "blueprints", name: "w\(writer)-\(index)", body: body)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
    report("\(label): artifact create, 8 writers", Double(artifactWrites / 8 * 8) / seconds(elapsed), "writes/s")
}

/// Appends events for 200 gateways over the last hour, then times "latest event with tags
/// gateways:G + metrics:rate within 5 minutes" for random gateways.
func measureEvents(
    _ label: String, _ store: any EventStore, afterLoading: @Sendable () async throws -> Void = {},
    filler: (@Sendable (_ from: Int, _ to: Int, _ now: Date) async throws -> Void)? = nil
) async throws {
    let clock = ContinuousClock()
    let now = Date()
    var generator = SystemRandomNumberGenerator()
    let elapsed = try await clock.measure {
        for index in 0..<eventCount {
            let metric = index.isMultiple(of: 2) ? "rate" : "responseTime"
            try await store.append(
                Event(
                    tags: ["gateways:g\(index % gateways)", "gateway", "metrics:\(metric)"], value: .number(Double(index)),
                    timestamp: now - Double.random(in: 0..<3600, using: &generator), type: "metrics"))
        }
    }
    report("\(label): event append, 1 writer (\(eventCount) events)", Double(eventCount) / seconds(elapsed), "events/s")
    try await afterLoading()
    try await measureQueries(label, store, now: now)
    guard fillTo > eventCount, let fill = filler else { return }
    let fillTime = try await clock.measure { try await fill(eventCount, fillTo, now) }
    report("\(label): bulk fill to \(fillTo) events (SQL, not timed as appends)", seconds(fillTime), "s")
    try await afterLoading()
    let atFill = try await clock.measure {
        for index in 0..<appendsAtFill {
            let metric = index.isMultiple(of: 2) ? "rate" : "responseTime"
            try await store.append(
                Event(
                    tags: ["gateways:g\(index % gateways)", "gateway", "metrics:\(metric)"], value: .number(Double(index)),
                    timestamp: now - Double.random(in: 0..<3600, using: &generator), type: "metrics"))
        }
    }
    report(
        "\(label): event append at \(fillTo) events, 1 writer (\(appendsAtFill) events)",
        Double(appendsAtFill) / seconds(atFill), "events/s")
    try await measureQueries("\(label) at \(fillTo + appendsAtFill) events", store, now: now)
}

/// Times "latest event with tags gateways:G + metrics:rate within 5 minutes" for random gateways
/// and one aggregate.
func measureQueries(_ label: String, _ store: any EventStore, now: Date) async throws {
    let clock = ContinuousClock()
    var generator = SystemRandomNumberGenerator()
    var latencies: [Double] = []
    // Rate events go to even gateways only (index parity), so a random gateway is a hit or a
    // miss (no match in the window) about half the time each: both are reported.
    var hits: [Double] = []
    var misses: [Double] = []
    for _ in 0..<queries {
        let gateway = Int.random(in: 0..<gateways, using: &generator)
        var found = false
        let one = try await clock.measure {
            found = try await store.latest(tags: ["gateways:g\(gateway)", "metrics:rate"], within: .seconds(300), now: now) != nil
        }
        latencies.append(seconds(one) * 1000)
        if found { hits.append(seconds(one) * 1000) } else { misses.append(seconds(one) * 1000) }
    }
    latencies.sort()
    hits.sort()
    misses.sort()
    report("\(label): latest by 2 tags within 5 min, median", latencies[latencies.count / 2], "ms")
    report("\(label): latest by 2 tags within 5 min, p99", latencies[latencies.count * 99 / 100], "ms")
    if !hits.isEmpty {
        report("\(label): latest by 2 tags, found (\(hits.count)), median", hits[hits.count / 2], "ms")
        report("\(label): latest by 2 tags, found (\(hits.count)), p99", hits[hits.count * 99 / 100], "ms")
    }
    if !misses.isEmpty {
        report("\(label): latest by 2 tags, none in window (\(misses.count)), median", misses[misses.count / 2], "ms")
        report("\(label): latest by 2 tags, none in window (\(misses.count)), p99", misses[misses.count * 99 / 100], "ms")
    }
    let aggregate = try await clock.measure {
        _ = try await store.aggregate(
            EventAggregation(.average), matching: EventQuery(tags: ["gateways:g8", "metrics:rate"], timestamp: TimeRange(gte: try TimeExpression(parsing: "now-30m"))))
    }
    report("\(label): average over one gateway's last 30 min (g8, which has rate events)", seconds(aggregate) * 1000, "ms")
}

print("| Measurement | Result |")
print("|---|---|")
let folder = try TemporaryDirectory(prefix: "vamp-perf")
defer { folder.remove() }
for synchronous in [SQLiteStore.Configuration.Synchronous.full, .normal] {
    let store = try SQLiteStore(
        configuration: SQLiteStore.Configuration(
            path: folder.url.appendingPathComponent("perf-\(synchronous.rawValue).sqlite").path, synchronous: synchronous))
    let path = folder.url.appendingPathComponent("perf-\(synchronous.rawValue).sqlite").path
    try await measureArtifacts("SQLite synchronous=\(synchronous.rawValue)", store)
    try await measureEvents("SQLite synchronous=\(synchronous.rawValue)", store, filler: { from, to, now in
        // The same rows `append` writes (5 expanded tags, a number value), in one transaction.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            let before = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0
            try db.execute(
                sql: """
                    WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
                    INSERT INTO events (id, type, occurred_at, tags, value)
                    SELECT 'bulk-' || i, 'metrics', ? - abs(random() % 3600000),
                           '["gateway","gateways","gateways:g' || (i % 200) || '","metrics","metrics:'
                               || CASE WHEN i % 2 = 0 THEN 'rate' ELSE 'responseTime' END || '"]',
                           CAST(i AS TEXT)
                    FROM n
                    """, arguments: [from, to, Int64(now.timeIntervalSince1970 * 1000)])
            try db.execute(
                sql: "INSERT INTO event_tags (tag, event_seq) SELECT j.value, e.seq FROM events e, json_each(e.tags) j WHERE e.seq > ?",
                arguments: [before])
        }
        try await queue.write { db in try db.execute(sql: "ANALYZE") }
        try queue.close()
    })
}

let server = try await PostgresServer.start(durable: true)
defer { server.stop() }
var logger = Logger(label: "vamp.persistence.perf")
logger.logLevel = .error
let client = PostgresClient(
    configuration: PostgresClient.Configuration(
        host: server.host, port: server.port, username: server.username, password: nil, database: server.database,
        tls: .disable),
    backgroundLogger: logger)
try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await client.run() }
    let store = try PostgresStore(client: client, logger: logger)
    try await store.migrate()
    try await measureArtifacts("PostgreSQL 15 (fsync on)", store)
    try await measureEvents(
        "PostgreSQL 15 (fsync on)", store,
        afterLoading: {
            // What autovacuum would do soon after a bulk load: fresh statistics for the planner.
            try await client.query("ANALYZE", logger: logger)
        },
        filler: { from, to, now in
            let millis = Int64(now.timeIntervalSince1970 * 1000)
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("SELECT COALESCE(MAX(seq), 0) FROM vamp_events", logger: logger)
                var before: Int64 = 0
                for try await value in rows.decode(Int64.self) { before = value }
                try await connection.query(
                    """
                    INSERT INTO vamp_events (id, type, occurred_at, tags, value)
                    SELECT 'bulk-' || i, 'metrics', \(millis) - floor(random() * 3600000)::bigint,
                           '["gateway","gateways","gateways:g' || (i % 200) || '","metrics","metrics:'
                               || CASE WHEN i % 2 = 0 THEN 'rate' ELSE 'responseTime' END || '"]',
                           to_jsonb(i)
                    FROM generate_series(\(from), \(to - 1)) AS i
                    """, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO vamp_event_tags (tag, event_seq)
                    SELECT t, e.seq FROM vamp_events e, jsonb_array_elements_text(e.tags::jsonb) AS t
                    WHERE e.seq > \(before)
                    """, logger: logger)
            }
        })
    group.cancelAll()
}
