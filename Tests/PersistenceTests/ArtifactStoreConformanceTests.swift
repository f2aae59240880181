import Foundation
import Persistence
import Testing

/// The same assertions for every ``ArtifactStore`` implementation.
@Suite("ArtifactStore conformance")
struct ArtifactStoreConformanceTests {
    @Test("create, read, update, delete with versions", arguments: Backend.all)
    func crud(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            let created = try await store.create(kind: "breeds", name: "sava", body: Data(json: #"{"v":1}"#))
            #expect(created.version == 1)
            #expect(created.body == Data(json: #"{"v":1}"#))

            let read = try #require(try await store.read(kind: "breeds", name: "sava"))
            #expect(read == created)
            #expect(try await store.read(kind: "blueprints", name: "sava") == nil)

            let duplicate = await #expect(throws: PersistenceError.self) {
                try await store.create(kind: "breeds", name: "sava", body: Data(json: "{}"))
            }
            #expect(duplicate?.code == .alreadyExists)

            let updated = try await store.update(
                kind: "breeds", name: "sava", body: Data(json: #"{"v":2}"#), expectedVersion: 1)
            #expect(updated.version == 2)
            #expect(updated.createdAt == created.createdAt)
            #expect(try await store.read(kind: "breeds", name: "sava")?.body == Data(json: #"{"v":2}"#))

            let stale = await #expect(throws: PersistenceError.self) {
                try await store.update(kind: "breeds", name: "sava", body: Data(json: "{}"), expectedVersion: 1)
            }
            #expect(stale?.code == .versionConflict)
            #expect(stale?.expectedVersion == 1)
            #expect(stale?.actualVersion == 2)
            #expect(stale?.message.contains("breeds 'sava'") == true)

            let staleDelete = await #expect(throws: PersistenceError.self) {
                try await store.delete(kind: "breeds", name: "sava", expectedVersion: 1)
            }
            #expect(staleDelete?.code == .versionConflict)

            try await store.delete(kind: "breeds", name: "sava", expectedVersion: 2)
            #expect(try await store.read(kind: "breeds", name: "sava") == nil)

            let missingUpdate = await #expect(throws: PersistenceError.self) {
                try await store.update(kind: "breeds", name: "sava", body: Data(json: "{}"), expectedVersion: 2)
            }
            #expect(missingUpdate?.code == .notFound)
            let missingDelete = await #expect(throws: PersistenceError.self) {
                try await store.delete(kind: "breeds", name: "sava", expectedVersion: nil)
            }
            #expect(missingDelete?.code == .notFound)

            // A deleted name can be created again, from version 1.
            #expect(try await store.create(kind: "breeds", name: "sava", body: Data(json: "{}")).version == 1)
            try await store.delete(kind: "breeds", name: "sava", expectedVersion: nil)
        }
    }

    @Test("body bytes are returned unchanged", arguments: Backend.all)
    func bodyBytes(backend: Backend) async throws {
        try await backend { stores in
            let body = Data(json: #"{"name":"sävä","ports":{"web":"8080/http"},"n":[1,2.5,null]}"#)
            _ = try await stores.artifacts.create(kind: "blueprints", name: "sava:1.0", body: body)
            #expect(try await stores.artifacts.read(kind: "blueprints", name: "sava:1.0")?.body == body)
        }
    }

    @Test("list by kind, ordered by name, paged with a total", arguments: Backend.all)
    func listPaging(backend: Backend) async throws {
        try await backend { stores in
            for name in ["e", "b", "a", "d", "c"] {
                _ = try await stores.artifacts.create(kind: "breeds", name: name, body: Data(json: "{}"))
            }
            for name in ["x", "y"] {
                _ = try await stores.artifacts.create(kind: "gateways", name: name, body: Data(json: "{}"))
            }
            let second = try await stores.artifacts.list(kind: "breeds", page: PageRequest(page: 2, perPage: 2))
            #expect(second.items.map(\.name) == ["c", "d"])
            #expect(second.total == 5)
            let third = try await stores.artifacts.list(kind: "breeds", page: PageRequest(page: 3, perPage: 2))
            #expect(third.items.map(\.name) == ["e"])
            let beyond = try await stores.artifacts.list(kind: "breeds", page: PageRequest(page: 9, perPage: 2))
            #expect(beyond.items.isEmpty)
            #expect(beyond.total == 5)
            let gateways = try await stores.artifacts.list(kind: "gateways", page: PageRequest())
            #expect(gateways.items.map(\.name) == ["x", "y"])
            #expect(gateways.total == 2)
            let none = try await stores.artifacts.list(kind: "slas", page: PageRequest())
            #expect(none.items.isEmpty && none.total == 0)
        }
    }

    @Test("every change is in the change log, in order", arguments: Backend.all)
    func changeLog(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            #expect(try await store.changes(after: 0, limit: 100).isEmpty)
            _ = try await store.create(kind: "breeds", name: "a", body: Data(json: "1"))
            _ = try await store.update(kind: "breeds", name: "a", body: Data(json: "2"), expectedVersion: 1)
            _ = try await store.create(kind: "gateways", name: "g", body: Data(json: "3"))
            try await store.delete(kind: "breeds", name: "a", expectedVersion: nil)
            // A refused write leaves no trace.
            _ = try? await store.update(kind: "gateways", name: "g", body: Data(json: "4"), expectedVersion: 7)

            let all = try await store.changes(after: 0, limit: 100)
            #expect(all.map(\.operation) == [.create, .update, .create, .delete])
            #expect(all.map(\.kind) == ["breeds", "breeds", "gateways", "breeds"])
            #expect(all.map(\.version) == [1, 2, 1, 2])
            #expect(all.map(\.body) == [Data(json: "1"), Data(json: "2"), Data(json: "3"), nil])
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.sequence < $1.sequence })

            let rest = try await store.changes(after: all[1].sequence, limit: 1)
            #expect(rest.map(\.name) == ["g"])
            #expect(try await store.changes(after: all[3].sequence, limit: 10).isEmpty)
        }
    }

    @Test("a change feed yields later changes", arguments: Backend.all)
    func followChanges(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            _ = try await store.create(kind: "breeds", name: "before", body: Data(json: "{}"))
            let start = try await store.changes(after: 0, limit: 10).last?.sequence ?? 0
            let feed = store.followChanges(after: start, pollInterval: .milliseconds(20))
            async let firstTwo: [String] = {
                var names: [String] = []
                for try await change in feed {
                    names.append(change.name)
                    if names.count == 2 { break }
                }
                return names
            }()
            try await Task.sleep(for: .milliseconds(50))
            _ = try await store.create(kind: "breeds", name: "after-1", body: Data(json: "{}"))
            _ = try await store.create(kind: "breeds", name: "after-2", body: Data(json: "{}"))
            #expect(try await firstTwo == ["after-1", "after-2"])
        }
    }

    @Test("a batch that fails part-way leaves the store exactly as it was", arguments: Backend.all)
    func refusedBatch(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            let a = try await store.create(kind: "breeds", name: "a", body: Data(json: "1"))
            let b = try await store.create(kind: "breeds", name: "b", body: Data(json: "1"))
            let before = try await StoreState(store)
            let conflict = await #expect(throws: PersistenceError.self) {
                try await store.write([
                    .update(kind: "breeds", name: "a", body: Data(json: "2"), expectedVersion: 1),
                    .create(kind: "breeds", name: "c", body: Data(json: "1")),
                    .update(kind: "breeds", name: "b", body: Data(json: "2"), expectedVersion: 7),
                ])
            }
            #expect(conflict?.code == .versionConflict)
            #expect(conflict?.message.contains("breeds 'b'") == true)
            #expect(conflict?.expectedVersion == 7 && conflict?.actualVersion == 1)
            #expect(try await StoreState(store) == before)
            #expect(try await store.read(kind: "breeds", name: "a") == a)
            #expect(try await store.read(kind: "breeds", name: "b") == b)
            #expect(try await store.read(kind: "breeds", name: "c") == nil)

            // Each refusal, as the last write of a batch whose first write alone would succeed.
            let refusals: [(ArtifactWrite, PersistenceError.Code)] = [
                (.create(kind: "breeds", name: "b", body: Data(json: "9")), .alreadyExists),
                (.update(kind: "breeds", name: "missing", body: Data(json: "9"), expectedVersion: 1), .notFound),
                (.delete(kind: "breeds", name: "missing", expectedVersion: 1), .notFound),
                (.delete(kind: "breeds", name: "b", expectedVersion: 2), .versionConflict),
                // The batch's own first write moved `a` to version 2.
                (.update(kind: "breeds", name: "a", body: Data(json: "9"), expectedVersion: 1), .versionConflict),
            ]
            for (refused, code) in refusals {
                let error = await #expect(throws: PersistenceError.self) {
                    try await store.write([.save(kind: "breeds", name: "a", body: Data(json: "2")), refused])
                }
                #expect(error?.code == code, "\(refused)")
                #expect(error?.message.contains("'\(refused.name)'") == true, "\(refused)")
                #expect(try await StoreState(store) == before, "\(refused)")
            }
        }
    }

    @Test("a batch: outcomes with previous and next records, consecutive change log entries", arguments: Backend.all)
    func batchOutcomes(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            #expect(try await store.lastChangeSequence() == 0)
            #expect(try await store.write([]).isEmpty)
            let a = try await store.create(kind: "breeds", name: "a", body: Data(json: "1"))
            let b = try await store.create(kind: "breeds", name: "b", body: Data(json: "1"))
            let start = try await store.lastChangeSequence()
            #expect(start == (try await store.changes(after: 0, limit: 10).last?.sequence))

            let outcomes = try await store.write([
                .save(kind: "breeds", name: "a", body: Data(json: "2")),
                .save(kind: "breeds", name: "n", body: Data(json: "1")),
                .update(kind: "breeds", name: "a", body: Data(json: "3"), expectedVersion: 2),
                .create(kind: "gateways", name: "g", body: Data(json: "1")),
                .delete(kind: "breeds", name: "b", expectedVersion: 1),
                .delete(kind: "breeds", name: "missing", expectedVersion: nil),
            ])
            try #require(outcomes.count == 6)
            #expect(outcomes[0].previous == a)
            #expect(outcomes[0].record?.version == 2 && outcomes[0].record?.body == Data(json: "2"))
            #expect(outcomes[0].record?.createdAt == a.createdAt)
            #expect(outcomes[1].previous == nil && outcomes[1].record?.version == 1)
            #expect(outcomes[2].previous == outcomes[0].record)
            #expect(outcomes[2].record?.version == 3 && outcomes[2].record?.body == Data(json: "3"))
            #expect(outcomes[3].previous == nil && outcomes[3].record?.kind == "gateways")
            #expect(outcomes[4].previous == b && outcomes[4].record == nil)
            #expect(outcomes[5] == ArtifactWriteOutcome(previous: nil, record: nil))

            #expect(try await store.read(kind: "breeds", name: "a") == outcomes[2].record)
            #expect(try await store.read(kind: "breeds", name: "n") == outcomes[1].record)
            #expect(try await store.read(kind: "gateways", name: "g") == outcomes[3].record)
            #expect(try await store.read(kind: "breeds", name: "b") == nil)
            let log = try await store.changes(after: start, limit: 100)
            #expect(log.map(\.sequence) == Array(start + 1...start + 5))
            #expect(log.map(\.operation) == [.update, .create, .update, .create, .delete])
            #expect(log.map(\.name) == ["a", "n", "a", "g", "b"])
            #expect(log.map(\.version) == [2, 1, 3, 1, 1])
            #expect(log.map(\.body) == [Data(json: "2"), Data(json: "1"), Data(json: "3"), Data(json: "1"), nil])
            #expect(try await store.lastChangeSequence() == start + 5)

            // A batch that changes nothing logs nothing; the single delete still refuses a missing artifact.
            #expect(try await store.write([.delete(kind: "breeds", name: "b", expectedVersion: nil)]).first?.previous == nil)
            #expect(try await store.lastChangeSequence() == start + 5)
            let missing = await #expect(throws: PersistenceError.self) {
                try await store.delete(kind: "breeds", name: "b", expectedVersion: nil)
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("every subscriber of the change notices hears a write", arguments: Backend.all)
    func changeNotices(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            let first = store.changeNotices()
            let second = store.changeNotices()
            _ = try await store.save(kind: "breeds", name: "a", body: Data(json: "1"))
            try await within(.seconds(5), "the first subscriber's notice") { try await nextElement(of: first) }
            try await within(.seconds(5), "the second subscriber's notice") { try await nextElement(of: second) }
            _ = try await store.write([
                .save(kind: "breeds", name: "a", body: Data(json: "2")), .save(kind: "breeds", name: "b", body: Data(json: "1")),
            ])
            try await within(.seconds(5), "the first subscriber's notice of the batch") { try await nextElement(of: first) }
            try await within(.seconds(5), "the second subscriber's notice of the batch") { try await nextElement(of: second) }
        }
    }

    @Test("a change feed wakes on a notice, not at its poll interval", arguments: Backend.all)
    func feedWakesOnNotice(backend: Backend) async throws {
        try await backend { stores in
            let store = stores.artifacts
            _ = try await store.create(kind: "breeds", name: "before", body: Data(json: "{}"))
            let feed = store.followChanges(after: try await store.lastChangeSequence(), pollInterval: .seconds(60))
            let (changes, delivered) = AsyncStream.makeStream(of: ArtifactChange.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await change in feed { delivered.yield(change) } }
                defer { group.cancelAll() }
                for name in ["after-1", "after-2", "after-3"] {
                    _ = try await store.create(kind: "breeds", name: name, body: Data(json: "{}"))
                    let change = try await within(.seconds(5), "the feed's change of \(name)") { try await nextElement(of: changes) }
                    #expect(change.name == name)
                }
            }
        }
    }

    @Test("two handles on one database: exactly one of two racing updates wins", arguments: Backend.all)
    func racingUpdates(backend: Backend) async throws {
        try await backend.run { first, second in
            _ = try await first.artifacts.create(kind: "deployments", name: "shop", body: Data(json: #"{"w":0}"#))
            for round in 1...5 {
                let expected = Int64(round)
                async let a = outcome { try await first.artifacts.update(
                    kind: "deployments", name: "shop", body: Data(json: #"{"w":"a"}"#), expectedVersion: expected) }
                async let b = outcome { try await second.artifacts.update(
                    kind: "deployments", name: "shop", body: Data(json: #"{"w":"b"}"#), expectedVersion: expected) }
                let results = await [a, b]
                let winners = results.compactMap { try? $0.get() }
                let conflicts = results.compactMap { result -> PersistenceError? in
                    if case .failure(let error) = result { return error as? PersistenceError }
                    return nil
                }
                #expect(winners.count == 1)
                #expect(winners.first?.version == expected + 1)
                #expect(conflicts.map(\.code) == [.versionConflict])
            }
            // A change feed on one handle yields the other's writes.
            let feed = second.artifacts.followChanges(after: 0, pollInterval: .milliseconds(20))
            var followed: [Int64] = []
            for try await change in feed {
                followed.append(change.version)
                if followed.count == 6 { break }
            }
            #expect(followed == [1, 2, 3, 4, 5, 6])
            // Each handle sees the other's writes, in the record and in the change log.
            #expect(try await second.artifacts.read(kind: "deployments", name: "shop")?.version == 6)
            let log = try await second.artifacts.changes(after: 0, limit: 100)
            #expect(log.map(\.version) == [1, 2, 3, 4, 5, 6])
        }
    }
}

/// What a reader can see of a store: every artifact of the kinds the tests use, the whole change log, and its end.
struct StoreState: Equatable {
    var artifacts: [Page<ArtifactRecord>]
    var log: [ArtifactChange]
    var last: Int64

    init(_ store: any ArtifactStore) async throws {
        artifacts = []
        for kind in ["breeds", "gateways"] {
            artifacts.append(try await store.list(kind: kind, page: PageRequest(perPage: 1000)))
        }
        log = try await store.changes(after: 0, limit: 10_000)
        last = try await store.lastChangeSequence()
    }
}

/// The result of `body`, success or error, so two racing calls can both be awaited.
func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}
