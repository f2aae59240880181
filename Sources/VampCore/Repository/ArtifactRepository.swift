import Foundation
import Metrics
import Persistence
import Synchronization
import VampDSL
import VampModel

/// Typed access to the artifacts of an ``ArtifactStore``: reads decoded once, lists by kind, and batches of
/// writes committed as one transaction of the store.
///
/// Two caches, both bounded: decoded artifacts keyed by their stored bytes (always on: the same bytes decode to
/// the same artifact, whoever wrote them), and, when `cacheReads` is on, the stored records and list pages
/// themselves (only correct when this process is the store's one writer: SQLite, memory).
final class ArtifactRepository: Sendable {
    let store: any ArtifactStore
    private let reads: Mutex<ReadCache>?
    private let decoded = Mutex(DecodedArtifacts())

    init(store: any ArtifactStore, cacheReads: Bool) {
        self.store = store
        self.reads = cacheReads ? Mutex(ReadCache()) : nil
    }

    // MARK: Stored records

    /// One page of the artifacts of `kind`, ordered by name.
    func list(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> Page<StoredArtifact> {
        if let cached = reads?.withLock({ $0.page(kind, page) }) { return cached }
        let generation = reads?.withLock { $0.generation(kind) }
        let records = try await call { try await self.store.list(kind: kind.plural, page: page) }
        let result = Page(items: records.items.map { Self.stored($0, kind) }, total: records.total, request: records.request)
        if let generation { reads?.withLock { $0.keep(result, kind, page, ifStill: generation) } }
        return result
    }

    /// One page as the JSON array the API answers (the stored JSON texts joined), with the total.
    func listJSON(_ kind: ArtifactKind, page: PageRequest) async throws(OperationError) -> RenderedPage {
        if let cached = reads?.withLock({ $0.rendered(kind, page) }) { return cached }
        let generation = reads?.withLock { $0.generation(kind) }
        let result = try await list(kind, page: page)
        var json = Data(capacity: result.items.reduce(2) { $0 + $1.json.count + 1 })
        json.append(UInt8(ascii: "["))
        for (index, item) in result.items.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(item.json)
        }
        json.append(UInt8(ascii: "]"))
        let rendered = RenderedPage(json: json, total: result.total)
        if let generation { reads?.withLock { $0.keep(rendered, kind, page, ifStill: generation) } }
        return rendered
    }

    /// The stored artifact, or `nil` when there is none.
    func read(_ kind: ArtifactKind, name: String) async throws(OperationError) -> StoredArtifact? {
        if let cached = reads?.withLock({ $0.artifact(kind, name) }) { return cached }
        let generation = reads?.withLock { $0.generation(kind) }
        let result = try await call { try await self.store.read(kind: kind.plural, name: name) }.map { Self.stored($0, kind) }
        if let generation, let result { reads?.withLock { $0.keep(result, ifStill: generation) } }
        return result
    }

    // MARK: Decoded artifacts

    /// The artifact, decoded; `nil` when there is none.
    func artifact(_ kind: ArtifactKind, name: String) async throws(OperationError) -> Artifact? {
        guard let stored = try await read(kind, name: name) else { return nil }
        return try decode(stored)
    }

    /// Every artifact of `kind`, decoded, ordered by name.
    func all(_ kind: ArtifactKind) async throws(OperationError) -> [Artifact] {
        var result: [Artifact] = []
        var page = 1
        while true {
            let records = try await list(kind, page: PageRequest(page: page, perPage: 500))
            for record in records.items { result.append(try decode(record)) }
            if records.items.isEmpty || page * 500 >= records.total { return result }
            page += 1
        }
    }

    /// The artifact a stored JSON holds. The one place stored JSON is read back: a text that does not read is a
    /// damaged store, named with the artifact.
    func decode(_ stored: StoredArtifact) throws(OperationError) -> Artifact {
        if let known = decoded.withLock({ $0.artifact(stored) }) { return known }
        guard let text = String(data: stored.json, encoding: .utf8),
              let document = try? DSLReader.read(text, kind: stored.kind).first, document.artifact.kind == stored.kind else {
            throw OperationError(.unavailable, "the stored \(stored.kind) '\(stored.name)' cannot be read back; repair or delete it")
        }
        decoded.withLock { $0.keep(document.artifact, for: stored) }
        return document.artifact
    }

    // MARK: Writing

    /// Commits the writes as one transaction of the store: all of them or, when one fails, none.
    func write(_ batch: [ArtifactWrite]) async throws(OperationError) -> [ArtifactWriteOutcome] {
        guard !batch.isEmpty else { return [] }
        let kinds = Set(batch.compactMap { ArtifactKind(name: $0.kind) })
        // Before and after: a read that overlapped the write cannot put what it read into the cache.
        reads?.withLock { cache in for kind in kinds { cache.invalidate(kind) } }
        defer { reads?.withLock { cache in for kind in kinds { cache.invalidate(kind) } } }
        return try await call { try await self.store.write(batch) }
    }

    // MARK: Support

    /// The canonical JSON of an artifact, as it is stored and answered.
    static func json(_ artifact: Artifact) -> Data { Data(DSLWriter.json(artifact, pretty: false).utf8) }

    static func stored(_ record: ArtifactRecord, _ kind: ArtifactKind) -> StoredArtifact {
        StoredArtifact(kind: kind, name: record.name, version: record.version, json: record.body)
    }

    /// Calls the store, maps its error, and records the call's duration as `vamp_store_duration_seconds`
    /// (dimension `store`: `artifacts`) for the server's Prometheus `/metrics`.
    private func call<T: Sendable>(_ body: @Sendable () async throws -> T) async throws(OperationError) -> T {
        try await Self.timed("artifacts", body)
    }

    static func timed<T: Sendable>(_ store: String, _ body: @Sendable () async throws -> T) async throws(OperationError) -> T {
        let start = ContinuousClock.now
        defer { Metrics.Timer(label: "vamp_store_duration_seconds", dimensions: [("store", store)]).record(duration: ContinuousClock.now - start) }
        do {
            return try await body()
        } catch {
            throw OperationError(storeError: error)
        }
    }
}

extension OperationError {
    /// The refusal a store's error means to a caller of the facade; the store's error is kept as the cause.
    init(storeError error: any Error) {
        guard let persistence = error as? PersistenceError else {
            self.init(.unavailable, "the store failed: \(error)", cause: error)
            return
        }
        switch persistence.code {
        case .notFound: self.init(.notFound, persistence.message, cause: error)
        case .versionConflict, .alreadyExists: self.init(.conflict, persistence.message, cause: error)
        case .invalidEvent, .invalidQuery: self.init(.invalid, persistence.message, cause: error)
        default: self.init(.unavailable, "the store failed: \(persistence.message)", cause: error)
        }
    }
}

/// Artifacts already decoded, by kind and name, valid while the stored bytes are the same. Bounded.
struct DecodedArtifacts {
    private var entries: [ArtifactKind: [String: (json: Data, artifact: Artifact)]] = [:]
    private var count = 0
    let maximumEntries = 20_000

    func artifact(_ stored: StoredArtifact) -> Artifact? {
        guard let entry = entries[stored.kind]?[stored.name], entry.json == stored.json else { return nil }
        return entry.artifact
    }

    mutating func keep(_ artifact: Artifact, for stored: StoredArtifact) {
        if count >= maximumEntries {
            entries = [:]
            count = 0
        }
        if entries[stored.kind]?[stored.name] == nil { count += 1 }
        entries[stored.kind, default: [:]][stored.name] = (stored.json, artifact)
    }
}
