// Measures artifact writes per second and the latest-by-tags event query on SQLite and a real
// PostgreSQL server (started here with fsync on). Build in release: Scripts/perf-persistence.
import Foundation
import Logging
import Persistence
import PostgresNIO
import VampModel
import VampTesting

let artifactWrites = Int(ProcessInfo.processInfo.environment["ARTIFACT_WRITES"] ?? "") ?? 2000
let eventCount = Int(ProcessInfo.processInfo.environment["EVENTS"] ?? "") ?? 20000
let queries = Int(ProcessInfo.processInfo.environment["QUERIES"] ?? "") ?? 500
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
    _ label: String, _ store: any EventStore, afterLoading: @Sendable () async throws -> Void = {}
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
    var latencies: [Double] = []
    for _ in 0..<queries {
        let gateway = Int.random(in: 0..<gateways, using: &generator)
        let one = try await clock.measure {
            _ = try await store.latest(tags: ["gateways:g\(gateway)", "metrics:rate"], within: .seconds(300), now: now)
        }
        latencies.append(seconds(one) * 1000)
    }
    latencies.sort()
    report("\(label): latest by 2 tags within 5 min, median", latencies[latencies.count / 2], "ms")
    report("\(label): latest by 2 tags within 5 min, p99", latencies[latencies.count * 99 / 100], "ms")
    let aggregate = try await clock.measure {
        _ = try await store.aggregate(
            EventAggregation(.average), matching: EventQuery(tags: ["gateways:g7", "metrics:rate"], timestamp: TimeRange(gte: try TimeExpression(parsing: "now-30m"))))
    }
    report("\(label): average over one gateway's last 30 min", seconds(aggregate) * 1000, "ms")
}

print("| Measurement | Result |")
print("|---|---|")
let folder = try TemporaryDirectory(prefix: "vamp-perf")
defer { folder.remove() }
for synchronous in [SQLiteStore.Configuration.Synchronous.full, .normal] {
    let store = try SQLiteStore(
        configuration: SQLiteStore.Configuration(
            path: folder.url.appendingPathComponent("perf-\(synchronous.rawValue).sqlite").path, synchronous: synchronous))
    try await measureArtifacts("SQLite synchronous=\(synchronous.rawValue)", store)
    try await measureEvents("SQLite synchronous=\(synchronous.rawValue)", store)
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
    try await measureEvents("PostgreSQL 15 (fsync on)", store) {
        // What autovacuum would do soon after a bulk load: fresh statistics for the planner.
        try await client.query("ANALYZE", logger: logger)
    }
    group.cancelAll()
}
