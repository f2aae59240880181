public import Foundation
import VampConcurrency

/// Artifacts in memory: for tests and for a server that keeps no state. Lost on exit.
///
/// A batch is decided in full (every refusal found) before anything is stored, in one step of the actor, so it
/// is atomic by construction; ``changeNotices()`` signals after every batch that changed something.
public actor InMemoryArtifactStore: ArtifactStore {
    private var records: [String: [String: ArtifactRecord]] = [:]
    private var log: [ArtifactChange] = []
    private let now: @Sendable () -> Date
    private let notices = Broadcast<Void>()

    /// Creates an empty store; `now` is the clock for timestamps.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public func write(_ batch: [ArtifactWrite]) throws -> [ArtifactWriteOutcome] {
        let time = Millis.normalized(now())
        var stored: [ArtifactKey: ArtifactRecord] = [:]
        for key in ArtifactWrite.keys(of: batch) { stored[key] = records[key.kind]?[key.name] }
        let outcomes = try ArtifactWrite.outcomes(of: batch, applyingTo: stored, at: time)
        // Nothing is stored before every write of the batch is known to succeed.
        for (write, outcome) in zip(batch, outcomes) where outcome.changesSomething {
            records[write.kind, default: [:]][write.name] = outcome.record
            if let change = outcome.change(sequence: Int64(log.count + 1), at: time) { log.append(change) }
        }
        if outcomes.contains(where: \.changesSomething) { notices.signal() }
        return outcomes
    }

    public func read(kind: String, name: String) -> ArtifactRecord? {
        records[kind]?[name]
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

    public func lastChangeSequence() -> Int64 {
        Int64(log.count)
    }

    public nonisolated func changeNotices() -> AsyncStream<Void> {
        notices.subscribe()
    }
}
