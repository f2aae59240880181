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

/// The result of `body`, success or error, so two racing calls can both be awaited.
func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}
