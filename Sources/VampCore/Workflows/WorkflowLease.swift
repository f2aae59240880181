import Foundation
import Persistence

/// Which of the servers sharing a store runs the workflows' schedules (or, with another record, drives the releases): the holder of a lease record (kind
/// `workflow-leases`, name `scheduler`) that it renews at a third of its time. Another server takes it over once it
/// has expired. Written with the store's optimistic concurrency (an update at the version read), so two servers
/// never both hold it; a server that cannot reach the store does not hold it.
struct WorkflowLease: Sendable {
    static let kind = "workflow-leases"
    static let name = "scheduler"

    struct Record: Codable {
        var holder: String
        var until: Date
    }

    let store: any ArtifactStore
    let holder: String
    let time: Duration
    /// The record's kind and name: the workflows' scheduler by default; the release driver holds another.
    var recordKind = Self.kind
    var recordName = Self.name

    /// What an attempt to take or renew the lease found.
    enum Outcome: Equatable {
        /// This server holds it until then.
        case held(until: Date)
        /// Another server holds it.
        case taken
        /// The store did not answer (or another server wrote it at the same moment): what this server held, it holds
        /// until its time runs out.
        case unknown
    }

    /// Takes or renews the lease at `now`.
    func acquire(at now: Date) async -> Outcome {
        let until = now.addingTimeInterval(time.seconds)
        do {
            let body = try WorkflowRunStore.encoder.encode(Record(holder: holder, until: until))
            guard let stored = try await store.read(kind: recordKind, name: recordName) else {
                _ = try await store.create(kind: recordKind, name: recordName, body: body)
                return .held(until: until)
            }
            // A record that does not read counts as expired.
            let current = try? WorkflowRunStore.decoder.decode(Record.self, from: stored.body)
            if let current, current.holder != holder, current.until >= now { return .taken }
            _ = try await store.update(kind: recordKind, name: recordName, body: body, expectedVersion: stored.version)
            return .held(until: until)
        } catch {
            return .unknown
        }
    }

    /// Gives the lease up, if this server holds it (a graceful stop), so another server takes over at once rather
    /// than when it expires.
    func release() async {
        guard let stored = try? await store.read(kind: recordKind, name: recordName),
              let current = try? WorkflowRunStore.decoder.decode(Record.self, from: stored.body), current.holder == holder
        else { return }
        try? await store.delete(kind: recordKind, name: recordName, expectedVersion: stored.version)
    }
}
