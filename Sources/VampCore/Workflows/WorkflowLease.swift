import Foundation
import Persistence

/// Which of the servers sharing a store runs the workflows' schedules: the holder of a lease record (kind
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

    /// Takes or renews the lease at `now`; true when this server holds it until `now + time`.
    func acquire(at now: Date) async -> Bool {
        let wanted = Record(holder: holder, until: now.addingTimeInterval(time.seconds))
        do {
            let body = try WorkflowRunStore.encoder.encode(wanted)
            guard let stored = try await store.read(kind: Self.kind, name: Self.name) else {
                _ = try await store.create(kind: Self.kind, name: Self.name, body: body)
                return true
            }
            // A record that does not read counts as expired.
            let current = try? WorkflowRunStore.decoder.decode(Record.self, from: stored.body)
            if let current, current.holder != holder, current.until >= now { return false }
            _ = try await store.update(kind: Self.kind, name: Self.name, body: body, expectedVersion: stored.version)
            return true
        } catch {
            return false
        }
    }

    /// Gives the lease up, if this server holds it (a graceful stop), so another server takes over at once rather
    /// than when it expires.
    func release() async {
        guard let stored = try? await store.read(kind: Self.kind, name: Self.name),
              let current = try? WorkflowRunStore.decoder.decode(Record.self, from: stored.body), current.holder == holder
        else { return }
        try? await store.delete(kind: Self.kind, name: Self.name, expectedVersion: stored.version)
    }
}
