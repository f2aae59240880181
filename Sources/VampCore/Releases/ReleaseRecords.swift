public import Foundation
import Persistence
public import VampModel
public import VampReleases

/// What the server keeps of a started release (kind `release-states`, one record per release): its state with the
/// evidence and the timeline, the version of the release it runs, the last second of Pulse's figures counted, and
/// the rollback or completion webhooks still to be called. Written at the version read, so two writers (the driver
/// and a user's action, or two servers) never overwrite each other's decision.
public struct ReleaseRecord: Sendable, Hashable, Codable {
    /// The version of the stored release this state belongs to.
    public var releaseVersion: Int64
    /// The planner's state.
    public var state: ReleaseState
    /// The last whole second (since 1970) whose figures are in the evidence.
    public var counted: Int64?
    /// Webhooks of the release's end (`rollback`, `completion`) not called yet.
    public var notifications: [ReleaseWebhook.Moment]
    /// When it was last written.
    public var updated: Date
    /// The state's weights are not known to be in the gateway yet (written before the gateway, cleared after it).
    public var weightsPending: Bool = false
}

/// Reads and writes ``ReleaseRecord``s in the artifact store.
struct ReleaseRecordStore: Sendable {
    static let kind = "release-states"
    let store: any ArtifactStore

    /// The record and its version, or `nil` when the release never started.
    func read(_ name: String) async throws(OperationError) -> (record: ReleaseRecord, version: Int64)? {
        let stored: ArtifactRecord?
        do {
            stored = try await store.read(kind: Self.kind, name: name)
        } catch {
            throw OperationError(.unavailable, "the state of release '\(name)' cannot be read: \(error)", cause: error)
        }
        guard let stored else { return nil }
        do {
            return (try WorkflowRunStore.decoder.decode(ReleaseRecord.self, from: stored.body), stored.version)
        } catch {
            throw OperationError(.unavailable, "the stored state of release '\(name)' does not read: \(error)", cause: error)
        }
    }

    /// Writes `record` if the stored one is still at `version` (0: none stored) and returns the new version; `nil`
    /// when another writer got there first.
    func write(_ name: String, _ record: ReleaseRecord, at version: Int64) async throws(OperationError) -> Int64? {
        do {
            let body = try WorkflowRunStore.encoder.encode(record)
            if version == 0 {
                return try await store.create(kind: Self.kind, name: name, body: body).version
            } else {
                return try await store.update(kind: Self.kind, name: name, body: body, expectedVersion: version).version
            }
        } catch let error as PersistenceError where [.versionConflict, .alreadyExists, .notFound].contains(error.code) {
            return nil
        } catch {
            throw OperationError(.unavailable, "the state of release '\(name)' cannot be written: \(error)", cause: error)
        }
    }

    /// Removes the record (the release was deleted).
    func delete(_ name: String) async throws(OperationError) {
        do {
            try await store.delete(kind: Self.kind, name: name, expectedVersion: nil)
        } catch let error as PersistenceError where error.code == .notFound {
            return
        } catch {
            throw OperationError(.unavailable, "the state of release '\(name)' cannot be removed: \(error)", cause: error)
        }
    }
}
