// Store an artifact with optimistic concurrency, publish an event and read the latest one by tags.
import Foundation
import Persistence
import VampModel

// snippet.show
let artifacts = InMemoryArtifactStore()   // SQLiteStore and PostgresStore behave the same
let created = try await artifacts.create(kind: "breeds", name: "sava:1.0", body: Data(#"{"name":"sava:1.0"}"#.utf8))
do {
    _ = try await artifacts.update(kind: "breeds", name: "sava:1.0", body: Data("{}".utf8), expectedVersion: created.version + 1)
} catch let error as PersistenceError where error.code == .versionConflict {
    print(error.message)                  // another writer got there first: re-read and retry
}

let events = InMemoryEventStore()
_ = try await events.append(Event(tags: ["deployments:shop", "synchronization:deployed"], type: "synchronization"))
let latest = try await events.latest(matching: EventQuery(tags: ["deployments:shop"]))
print(latest?.tags ?? [])
// snippet.hide
