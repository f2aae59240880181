public import Foundation

/// One stored artifact: an opaque JSON body (the canonical form the API returns) keyed by kind
/// and name, with a version that grows by one on every update.
public struct ArtifactRecord: Sendable, Hashable {
    /// The artifact kind, e.g. `breeds`, `deployments`.
    public var kind: String
    /// The artifact name, unique within its kind.
    public var name: String
    /// 1 after `create`, plus 1 after every `update`.
    public var version: Int64
    /// The artifact's canonical JSON, stored and returned byte for byte.
    public var body: Data
    /// When the artifact was created (millisecond precision).
    public var createdAt: Date
    /// When the artifact was last written (millisecond precision).
    public var updatedAt: Date

    /// Creates a record.
    public init(kind: String, name: String, version: Int64, body: Data, createdAt: Date, updatedAt: Date) {
        self.kind = kind
        self.name = name
        self.version = version
        self.body = body
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One entry of an artifact store's change log.
public struct ArtifactChange: Sendable, Hashable {
    /// What happened to the artifact.
    public enum Operation: String, Sendable, Hashable {
        case create, update, delete
    }

    /// Increasing position in the log; read on with `changes(after: sequence)`.
    public var sequence: Int64
    /// What happened.
    public var operation: Operation
    /// The artifact kind.
    public var kind: String
    /// The artifact name.
    public var name: String
    /// The version written (for a delete: the version that was deleted).
    public var version: Int64
    /// When the change was made (millisecond precision).
    public var timestamp: Date
    /// The body written; `nil` for a delete.
    public var body: Data?

    /// Creates a change log entry.
    public init(
        sequence: Int64, operation: Operation, kind: String, name: String, version: Int64,
        timestamp: Date, body: Data?
    ) {
        self.sequence = sequence
        self.operation = operation
        self.kind = kind
        self.name = name
        self.version = version
        self.timestamp = timestamp
        self.body = body
    }
}

/// Which page of a list to return: `page` counts from 1.
public struct PageRequest: Sendable, Hashable {
    /// The page number, from 1. Values below 1 count as 1.
    public var page: Int
    /// Items per page, at least 1.
    public var perPage: Int

    /// Creates a page request (Vamp's API defaults: page 1, 30 per page).
    public init(page: Int = 1, perPage: Int = 30) {
        self.page = max(1, page)
        self.perPage = max(1, perPage)
    }

    /// Where the page starts; saturates instead of overflowing for absurd page numbers (a page past the end of
    /// any list is empty, whatever its number).
    var offset: Int {
        let (product, overflow) = (page - 1).multipliedReportingOverflow(by: perPage)
        return overflow ? Int(Int32.max) * 1024 : min(product, Int(Int32.max) * 1024)
    }
}

/// One page of results and the total number of matches.
public struct Page<Element: Sendable>: Sendable {
    /// The items on this page.
    public var items: [Element]
    /// How many items match in all pages.
    public var total: Int
    /// The request this page answers.
    public var request: PageRequest

    /// Creates a page.
    public init(items: [Element], total: Int, request: PageRequest) {
        self.items = items
        self.total = total
        self.request = request
    }
}

extension Page: Equatable where Element: Equatable {}

/// Versioned artifact records with optimistic concurrency and a change log.
///
/// Every write is one atomic step that also appends an ``ArtifactChange``, and ``write(_:)`` makes a batch of
/// writes one such step; `changes(after:)` reads the log in order and ``changeNotices()`` says when to read it
/// again, so an API can publish archive events and several servers sharing one database can follow each other's
/// writes. `create`, `update`, `delete` and `save` have default implementations on ``write(_:)``.
public protocol ArtifactStore: Sendable {
    /// Stores a new artifact at version 1. Throws `alreadyExists` if kind and name are taken.
    func create(kind: String, name: String, body: Data) async throws -> ArtifactRecord

    /// The artifact, or `nil` when there is none.
    func read(kind: String, name: String) async throws -> ArtifactRecord?

    /// Replaces the body if the stored version is `expectedVersion`, and returns the record at the
    /// next version. Throws `notFound`, or `versionConflict` when another writer got there first.
    func update(kind: String, name: String, body: Data, expectedVersion: Int64) async throws -> ArtifactRecord

    /// Deletes the artifact. With an `expectedVersion`, throws `versionConflict` when the stored
    /// version differs. Throws `notFound` when there is nothing to delete.
    func delete(kind: String, name: String, expectedVersion: Int64?) async throws

    /// The artifacts of one kind ordered by name, one page of them, and how many there are.
    func list(kind: String, page: PageRequest) async throws -> Page<ArtifactRecord>

    /// Up to `limit` change log entries with a sequence greater than `sequence`, oldest first.
    /// Sequences only grow; a reader that saw sequence `n` never later finds a new entry below `n`.
    func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange]

    /// Performs the writes in order as one transaction: when one fails (a version conflict, a create of a name
    /// that exists, a failing disk), the store is left as it was, no change log entry is kept, and the error
    /// of the write that failed is thrown. Returns one outcome per write, in order. Each write sees the earlier
    /// writes of the batch; each write that changes something appends one change log entry, and the entries of a
    /// batch have consecutive sequences. (Elasticsearch has no transactions: see ``ElasticsearchArtifactStore``
    /// for what it guarantees instead.)
    func write(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome]

    /// The sequence of the newest change log entry (0 for an empty log): where a reader that wants only the
    /// changes from now on starts.
    func lastChangeSequence() async throws -> Int64

    /// A notice after every change of the log this process makes and, where the store can tell, every change
    /// another process makes (PostgreSQL's `LISTEN`/`NOTIFY`). Each call returns a stream of its own; a notice
    /// says only "read the log again" (bursts coalesce).
    func changeNotices() -> AsyncStream<Void>
}

/// One write of a batch (``ArtifactStore/write(_:)``).
public enum ArtifactWrite: Sendable, Hashable {
    /// Creates the artifact, or replaces it whatever its version ("last writer wins").
    case save(kind: String, name: String, body: Data)
    /// Creates the artifact at version 1; fails with `alreadyExists` when it exists.
    case create(kind: String, name: String, body: Data)
    /// Replaces the artifact only at `expectedVersion`; fails with `notFound` or `versionConflict`.
    case update(kind: String, name: String, body: Data, expectedVersion: Int64)
    /// Deletes the artifact. Without `expectedVersion` a missing artifact is no failure (the outcome has no
    /// previous record); with one, it fails with `notFound` or `versionConflict`.
    case delete(kind: String, name: String, expectedVersion: Int64?)

    /// The kind the write is about.
    public var kind: String {
        switch self {
        case .save(let kind, _, _), .create(let kind, _, _), .update(let kind, _, _, _), .delete(let kind, _, _): kind
        }
    }

    /// The name the write is about.
    public var name: String {
        switch self {
        case .save(_, let name, _), .create(_, let name, _), .update(_, let name, _, _), .delete(_, let name, _): name
        }
    }
}

/// What one write of a batch did.
public struct ArtifactWriteOutcome: Sendable, Hashable {
    /// The artifact before the write; `nil` when there was none.
    public var previous: ArtifactRecord?
    /// The artifact after the write; `nil` after a delete.
    public var record: ArtifactRecord?

    /// Creates an outcome.
    public init(previous: ArtifactRecord?, record: ArtifactRecord?) {
        self.previous = previous
        self.record = record
    }
}

extension ArtifactStore {
    /// Stores a new artifact at version 1 through ``write(_:)``. Throws `alreadyExists` if kind and name are taken.
    public func create(kind: String, name: String, body: Data) async throws -> ArtifactRecord {
        try await writeOne(.create(kind: kind, name: name, body: body))
    }

    /// Replaces the body at `expectedVersion` through ``write(_:)``. Throws `notFound` or `versionConflict`.
    public func update(kind: String, name: String, body: Data, expectedVersion: Int64) async throws -> ArtifactRecord {
        try await writeOne(.update(kind: kind, name: name, body: body, expectedVersion: expectedVersion))
    }

    /// Deletes the artifact through ``write(_:)``. Throws `notFound` when there is nothing to delete, and
    /// `versionConflict` when `expectedVersion` is given and differs.
    public func delete(kind: String, name: String, expectedVersion: Int64?) async throws {
        let outcomes = try await write([.delete(kind: kind, name: name, expectedVersion: expectedVersion)])
        if outcomes.first?.previous == nil { throw PersistenceError.notFound(kind: kind, name: name) }
    }

    /// Creates the artifact, or updates it whatever its version: "last writer wins" for callers
    /// that do not track versions. One atomic write (``ArtifactWrite/save(kind:name:body:)``).
    public func save(kind: String, name: String, body: Data) async throws -> ArtifactRecord {
        try await writeOne(.save(kind: kind, name: name, body: body))
    }

    private func writeOne(_ single: ArtifactWrite) async throws -> ArtifactRecord {
        guard let record = try await write([single]).first?.record else {
            throw PersistenceError(
                code: .storage, message: "\(single.summary) returned no record: the store broke the write(_:) contract",
                kind: single.kind, name: single.name)
        }
        return record
    }

    /// Follows the change log from `sequence` on: yields every later change. It reads the log again on every
    /// ``changeNotices()`` notice and, as a safety net for writers the store cannot hear (another process on a
    /// SQLite file, another server on Elasticsearch), every `pollInterval` while it has nothing new. Ends when
    /// the task is cancelled.
    public func followChanges(
        after sequence: Int64, pollInterval: Duration = .seconds(1), batchSize: Int = 100
    ) -> ArtifactChangeFeed {
        ArtifactChangeFeed(store: self, after: sequence, pollInterval: pollInterval, batchSize: batchSize)
    }
}

/// The change log as an `AsyncSequence` over ``ArtifactStore/changes(after:limit:)``: woken by
/// ``ArtifactStore/changeNotices()`` (PostgreSQL carries them between servers with `LISTEN`/`NOTIFY`), with a
/// poll every `pollInterval` as the safety net; iteration ends by throwing `CancellationError` when the task is
/// cancelled.
public struct ArtifactChangeFeed: AsyncSequence, Sendable {
    public typealias Element = ArtifactChange

    let store: any ArtifactStore
    let after: Int64
    let pollInterval: Duration
    let batchSize: Int

    /// Reads the change log in batches and, when it has nothing new, waits for a notice or the poll interval.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let store: any ArtifactStore
        var last: Int64
        let pollInterval: Duration
        let batchSize: Int
        var buffer: [ArtifactChange] = []

        /// The next change, waiting for one if needed.
        public mutating func next() async throws -> ArtifactChange? {
            while buffer.isEmpty {
                try Task.checkCancellation()
                // Subscribed before the read, so a change committed after the read still wakes the wait.
                let notices = store.changeNotices()
                buffer = try await store.changes(after: last, limit: batchSize)
                if buffer.isEmpty { await Self.wait(for: notices, atMost: pollInterval) }
            }
            let change = buffer.removeFirst()
            last = change.sequence
            return change
        }

        /// Returns at the first notice, after `interval`, or when the task is cancelled.
        private static func wait(for notices: AsyncStream<Void>, atMost interval: Duration) async {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in notices { return true }
                    return false  // the notices ended (the store is gone): the timer decides
                }
                group.addTask {
                    try? await Task.sleep(for: interval)
                    return true
                }
                while let woken = await group.next(), !woken {}
                group.cancelAll()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, last: after, pollInterval: pollInterval, batchSize: batchSize)
    }
}
