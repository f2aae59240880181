public import Foundation

/// Artifacts in memory: for tests and for a server that keeps no state. Lost on exit.
public actor InMemoryArtifactStore: ArtifactStore {
    private var records: [String: [String: ArtifactRecord]] = [:]
    private var log: [ArtifactChange] = []
    private let now: @Sendable () -> Date

    /// Creates an empty store; `now` is the clock for timestamps.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public func create(kind: String, name: String, body: Data) throws -> ArtifactRecord {
        if let existing = records[kind]?[name] {
            throw PersistenceError.alreadyExists(kind: kind, name: name, version: existing.version)
        }
        let time = Millis.normalized(now())
        let record = ArtifactRecord(kind: kind, name: name, version: 1, body: body, createdAt: time, updatedAt: time)
        records[kind, default: [:]][name] = record
        appendChange(.create, record.kind, record.name, record.version, time, body)
        return record
    }

    public func read(kind: String, name: String) -> ArtifactRecord? {
        records[kind]?[name]
    }

    public func update(kind: String, name: String, body: Data, expectedVersion: Int64) throws -> ArtifactRecord {
        guard var record = records[kind]?[name] else { throw PersistenceError.notFound(kind: kind, name: name) }
        guard record.version == expectedVersion else {
            throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: record.version)
        }
        let time = Millis.normalized(now())
        record.version += 1
        record.body = body
        record.updatedAt = time
        records[kind]?[name] = record
        appendChange(.update, kind, name, record.version, time, body)
        return record
    }

    public func delete(kind: String, name: String, expectedVersion: Int64?) throws {
        guard let record = records[kind]?[name] else { throw PersistenceError.notFound(kind: kind, name: name) }
        if let expectedVersion, expectedVersion != record.version {
            throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: record.version)
        }
        records[kind]?[name] = nil
        appendChange(.delete, kind, name, record.version, Millis.normalized(now()), nil)
    }

    public func list(kind: String, page: PageRequest) -> Page<ArtifactRecord> {
        let all = (records[kind] ?? [:]).values.sorted { $0.name < $1.name }
        return Page(items: Array(all.dropFirst(page.offset).prefix(page.perPage)), total: all.count, request: page)
    }

    public func changes(after sequence: Int64, limit: Int) -> [ArtifactChange] {
        // Sequence n is at index n - 1.
        let start = Int(max(0, min(sequence, Int64(log.count))))
        return Array(log[start...].prefix(max(0, limit)))
    }

    private func appendChange(
        _ operation: ArtifactChange.Operation, _ kind: String, _ name: String, _ version: Int64, _ time: Date,
        _ body: Data?
    ) {
        log.append(
            ArtifactChange(
                sequence: Int64(log.count + 1), operation: operation, kind: kind, name: name, version: version,
                timestamp: time, body: body))
    }
}
