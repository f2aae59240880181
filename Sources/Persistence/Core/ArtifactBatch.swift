import Foundation

// The meaning of a batch, shared by every store: a store reads the artifacts the batch is about, lets
// `outcomes(of:applyingTo:at:)` decide (or refuse), and stores each outcome with its change log entry.

/// An artifact's kind and name.
struct ArtifactKey: Hashable, Sendable {
    var kind: String
    var name: String
}

extension ArtifactWrite {
    /// The outcomes of `batch` applied in order to `stored` (the artifacts before the batch; an absent one has no
    /// entry) at `time`, each write seeing the earlier ones; throws the first refusal.
    static func outcomes(
        of batch: [ArtifactWrite], applyingTo stored: [ArtifactKey: ArtifactRecord], at time: Date
    ) throws(PersistenceError) -> [ArtifactWriteOutcome] {
        var current = stored
        var outcomes: [ArtifactWriteOutcome] = []
        for write in batch {
            let outcome = try write.applied(to: current[write.key], at: time)
            current[write.key] = outcome.record
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The artifacts `batch` is about, each once, in the order of their first write.
    static func keys(of batch: [ArtifactWrite]) -> [ArtifactKey] {
        var seen: Set<ArtifactKey> = []
        return batch.map(\.key).filter { seen.insert($0).inserted }
    }

    var key: ArtifactKey { ArtifactKey(kind: kind, name: name) }

    /// `error`, met while storing this write at `index` of a batch of `count`, named after the write (a
    /// `PersistenceError` as it is).
    func failure(_ error: any Error, at index: Int, of count: Int) -> PersistenceError {
        PersistenceError.storage(summary(at: index, of: count), error, kind: kind, name: name)
    }

    /// What this write does to `current` (the artifact as the earlier writes of the batch left it; `nil` for none)
    /// at `time`, or the refusal: `alreadyExists`, `notFound` or `versionConflict`.
    func applied(to current: ArtifactRecord?, at time: Date) throws(PersistenceError) -> ArtifactWriteOutcome {
        switch self {
        case .save(let kind, let name, let body):
            guard let current else { return ArtifactWriteOutcome(previous: nil, record: .first(kind, name, body, time)) }
            return ArtifactWriteOutcome(previous: current, record: current.replacing(body, at: time))
        case .create(let kind, let name, let body):
            if let current { throw PersistenceError.alreadyExists(kind: kind, name: name, version: current.version) }
            return ArtifactWriteOutcome(previous: nil, record: .first(kind, name, body, time))
        case .update(let kind, let name, let body, let expectedVersion):
            guard let current else { throw PersistenceError.notFound(kind: kind, name: name) }
            guard current.version == expectedVersion else {
                throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: current.version)
            }
            return ArtifactWriteOutcome(previous: current, record: current.replacing(body, at: time))
        case .delete(let kind, let name, let expectedVersion):
            guard let current else {
                if expectedVersion == nil { return ArtifactWriteOutcome(previous: nil, record: nil) }
                throw PersistenceError.notFound(kind: kind, name: name)
            }
            if let expectedVersion, expectedVersion != current.version {
                throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: current.version)
            }
            return ArtifactWriteOutcome(previous: current, record: nil)
        }
    }

    /// The write for an error message: `saving breeds 'sava'`.
    var summary: String {
        let verb = switch self {
        case .save: "saving"
        case .create: "creating"
        case .update: "updating"
        case .delete: "deleting"
        }
        return "\(verb) \(kind) '\(name)'"
    }

    /// The write for an error message, with its place in a batch of more than one.
    func summary(at index: Int, of count: Int) -> String {
        count > 1 ? "\(summary) (write \(index + 1) of \(count) of a batch)" : summary
    }
}

extension ArtifactRecord {
    static func first(_ kind: String, _ name: String, _ body: Data, _ time: Date) -> ArtifactRecord {
        ArtifactRecord(kind: kind, name: name, version: 1, body: body, createdAt: time, updatedAt: time)
    }

    func replacing(_ body: Data, at time: Date) -> ArtifactRecord {
        var next = self
        next.version += 1
        next.body = body
        next.updatedAt = time
        return next
    }
}

extension ArtifactWriteOutcome {
    /// Whether the write changed something (all but a delete of an artifact that was not there).
    var changesSomething: Bool { previous != nil || record != nil }

    /// The change log entry this outcome appends at `sequence`; `nil` when nothing changed (a delete of an
    /// artifact that was not there).
    func change(sequence: Int64, at time: Date) -> ArtifactChange? {
        switch (previous, record) {
        case (nil, nil):
            return nil
        case (let previous, let record?):
            return ArtifactChange(
                sequence: sequence, operation: previous == nil ? .create : .update, kind: record.kind,
                name: record.name, version: record.version, timestamp: time, body: record.body)
        case (let previous?, nil):
            return ArtifactChange(
                sequence: sequence, operation: .delete, kind: previous.kind, name: previous.name,
                version: previous.version, timestamp: time, body: nil)
        }
    }
}
