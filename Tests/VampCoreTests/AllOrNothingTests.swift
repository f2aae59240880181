import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// A store that fails one write, the way a full disk or a lost database connection would: everything else goes to
/// a real in-memory store.
actor FailingOnceStore: ArtifactStore {
    let base = InMemoryArtifactStore()
    let failingName: String

    init(failingName: String) { self.failingName = failingName }

    func refuse(_ name: String) throws {
        if name == failingName { throw PersistenceError(code: .storage, message: "disk full (injected)") }
    }

    func create(kind: String, name: String, body: Data) async throws -> ArtifactRecord {
        try refuse(name)
        return try await base.create(kind: kind, name: name, body: body)
    }

    func read(kind: String, name: String) async throws -> ArtifactRecord? { await base.read(kind: kind, name: name) }

    func update(kind: String, name: String, body: Data, expectedVersion: Int64) async throws -> ArtifactRecord {
        try refuse(name)
        return try await base.update(kind: kind, name: name, body: body, expectedVersion: expectedVersion)
    }

    func delete(kind: String, name: String, expectedVersion: Int64?) async throws {
        try await base.delete(kind: kind, name: name, expectedVersion: expectedVersion)
    }

    func list(kind: String, page: PageRequest) async throws -> Page<ArtifactRecord> { await base.list(kind: kind, page: page) }

    func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange] { await base.changes(after: sequence, limit: limit) }

    func write(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome] {
        for write in batch {
            if case .delete = write { continue }
            try refuse(write.name)
        }
        return try await base.write(batch)
    }

    func lastChangeSequence() async throws -> Int64 { await base.lastChangeSequence() }

    nonisolated func changeNotices() -> AsyncStream<Void> { base.changeNotices() }
}

@Suite("Writes: all or nothing")
struct AllOrNothingTests {
    static func breeds(_ names: [String], image: String) throws -> [DSLDocument] {
        try DSLReader.read(names.map { "---\nkind: breed\nname: \($0)\ndeployable: acme/\(image)\n" }.joined())
    }

    @Test("a store failure part way through a request puts back what the request had written; no archive event is published",
          arguments: [false, true])
    func rollBack(cacheReads: Bool) async throws {
        let store = FailingOnceStore(failingName: "c:1.0")
        let events = InMemoryEventStore()
        let vamp = Vamp(artifacts: store, events: events, configuration: Vamp.Configuration(cacheReads: cacheReads))
        _ = try await vamp.apply(try Self.breeds(["a:1.0"], image: "old"))
        // With the read cache on, these reads fill it: what follows must not be answered from stale entries.
        _ = try await vamp.read(.breed, name: "a:1.0")
        _ = try await vamp.list(.breed, page: PageRequest())
        _ = try await vamp.listJSON(.breed, page: PageRequest())

        await #expect(throws: OperationError.self) {
            _ = try await vamp.apply(try Self.breeds(["a:1.0", "b:1.0", "c:1.0"], image: "new"))
        }
        let a = try #require(try await vamp.read(.breed, name: "a:1.0"))
        #expect(String(decoding: a.json, as: UTF8.self).contains("acme/old"), "the updated artifact is back as it was")
        #expect(try await vamp.read(.breed, name: "b:1.0") == nil, "the created artifact is gone again")
        #expect(try await vamp.list(.breed, page: PageRequest()).total == 1)
        let archived = try await events.events(matching: EventQuery(tags: ["archive"]), page: PageRequest())
        #expect(archived.total == 1, "only the first request's archive event")

        _ = try await vamp.apply(try Self.breeds(["a:1.0"], image: "newer"))
        let updated = try #require(try await vamp.read(.breed, name: "a:1.0"))
        #expect(String(decoding: updated.json, as: UTF8.self).contains("acme/newer"), "a read after a write sees the write")
        #expect(String(decoding: try await vamp.listJSON(.breed, page: PageRequest()).json, as: UTF8.self).contains("acme/newer"))
        try await vamp.delete(.breed, name: "a:1.0")
        #expect(try await vamp.read(.breed, name: "a:1.0") == nil)
        #expect(try await vamp.list(.breed, page: PageRequest()).total == 0)
        let rendered = try await vamp.listJSON(.breed, page: PageRequest())
        #expect(rendered.total == 0 && rendered.json == Data("[]".utf8), "the rendered page follows the delete too")
    }
}
