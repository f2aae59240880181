public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import VampConcurrency
import VampModel

/// Artifacts in Elasticsearch, as Vamp 0.9 kept them: one document per artifact in one index,
/// with versions, optimistic concurrency and a change log.
///
/// - **Records**: index `<index>`, document id `<kind>/<name>`, fields `kind`, `name`,
///   `version`, `created_at`, `updated_at` and `body` (base64, not indexed).
/// - **Concurrency**: a write reads the document's `_seq_no` and `_primary_term` and writes with
///   `if_seq_no`/`if_primary_term` (`_create` when there was none); Elasticsearch refuses the write
///   with 409 when another writer got in between, and the store checks again against what that
///   writer left: an `update` at the old version then fails with `versionConflict`.
/// - **Change log**: index `<index>-changes`, one document per change with id = its sequence.
///   A writer takes the highest sequence it can see plus one through `_create` and moves up on
///   409, so a sequence exists only when every smaller one does, and every write uses
///   `refresh=wait_for`: a reader that saw sequence `n` never later finds a new entry below `n`.
///
/// Elasticsearch has no transaction spanning two documents, so ``write(_:)`` is all or nothing only
/// as far as it can be made so from outside:
///
/// 1. It reads every artifact of the batch and checks every write against them (and against the
///    earlier writes of the batch): a refused write (`alreadyExists`, `notFound`,
///    `versionConflict`) throws before anything is written.
/// 2. It writes the records in order, each conditional on the document being as step 1 read it
///    (`if_seq_no`/`if_primary_term`, `_create` for an absent one). When one fails, it puts back
///    what the batch had written, each document only if no one wrote it since (conditional again),
///    and throws. When the failure was another writer (409) and everything was put back, it runs
///    the batch again from step 1, up to 5 times, then throws `versionConflict`.
/// 3. It appends the change-log entries, consecutive unless another writer logs at the same time.
///
/// What this does **not** guarantee: isolation (another reader can see the first records of a batch
/// before the rest are written, or before they are put back); putting back after a crash, a lost
/// connection or a second failure (what could not be put back is named in the error); and the change
/// log: a crash or failure in step 3 leaves the records written without all their entries (the
/// error says so). Two writers of *different* artifacts may log in the opposite order of their
/// writes; changes of one artifact are logged in version order only when its writers are not
/// concurrent. Followers should compare versions. Use SQLite or PostgreSQL when the log must be
/// exact.
///
/// ``changeNotices()`` signals after this store object's writes; another server's writes are seen by
/// ``ArtifactStore/followChanges(after:pollInterval:batchSize:)`` at its next poll.
///
/// Tested against `FakeElasticsearch` (there is no Elasticsearch on the build machine).
public final class ElasticsearchArtifactStore: ArtifactStore {
    /// Where Elasticsearch is and which index to use.
    public struct Configuration: Sendable {
        /// Base URL, e.g. `http://127.0.0.1:9200`.
        public var url: String
        /// The records' index (lowercase); the change log is `<index>-changes`.
        public var index: String
        /// Limit for each HTTP request.
        public var requestTimeout: Duration

        /// Creates a configuration (index `vamp-persistence` by default, as in Vamp 0.9).
        public init(url: String = "http://127.0.0.1:9200", index: String = "vamp-persistence", requestTimeout: Duration = .seconds(10)) {
            self.url = url
            self.index = index
            self.requestTimeout = requestTimeout
        }
    }

    let client: HTTPClient
    let base: String
    let index: String
    let changesIndex: String
    let timeout: TimeAmount
    let now: @Sendable () -> Date
    let notices = Broadcast<Void>()

    /// Creates a store; `client` defaults to the shared AsyncHTTPClient. Call
    /// ``prepareIndices()`` once before first use.
    public init(
        configuration: Configuration = Configuration(), client: HTTPClient = .shared,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        let index = configuration.index
        let forbidden = CharacterSet(charactersIn: "\\/*?\"<>| ,#:")
        guard !index.isEmpty, index == index.lowercased(), index.rangeOfCharacter(from: forbidden) == nil,
            !["-", "_", "+"].contains(index.first.map(String.init) ?? ""), index != ".", index != ".."
        else {
            throw PersistenceError(code: .invalidConfiguration, message: "'\(index)' is not a valid Elasticsearch index name")
        }
        self.client = client
        self.base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        self.index = index
        self.changesIndex = index + "-changes"
        self.timeout = .nanoseconds(
            configuration.requestTimeout.components.seconds * 1_000_000_000
                + configuration.requestTimeout.components.attoseconds / 1_000_000_000)
        self.now = now
    }

    /// Creates the two indices with their mappings; existing ones are left as they are.
    public func prepareIndices() async throws {
        let stored: JSONValue = .object(["type": .string("keyword"), "index": .bool(false), "doc_values": .bool(false)])
        let keyword: JSONValue = .object(["type": .string("keyword")])
        let long: JSONValue = .object(["type": .string("long")])
        let records: JSONValue = .object([
            "settings": .object(["number_of_shards": .number(1)]),
            "mappings": .object([
                "dynamic": .string("strict"),
                "properties": .object([
                    "kind": keyword, "name": keyword, "version": long, "created_at": long, "updated_at": long,
                    "body": stored,
                ]),
            ]),
        ])
        let changes: JSONValue = .object([
            "settings": .object(["number_of_shards": .number(1)]),
            "mappings": .object([
                "dynamic": .string("strict"),
                "properties": .object([
                    "sequence": long, "operation": keyword, "kind": keyword, "name": keyword, "version": long,
                    "timestamp": long, "body": stored,
                ]),
            ]),
        ])
        for (name, body) in [(index, records), (changesIndex, changes)] {
            let (status, answer) = try await send(.PUT, "/\(name)", body)
            if status == 400, answer.value(atPath: "error.type") == .string("resource_already_exists_exception") { continue }
            try check(status, answer, "creating index \(name)")
        }
    }

    // MARK: Records

    /// Where a document stands: a write made with `if_seq_no`/`if_primary_term` of it succeeds only when no one
    /// wrote it since.
    struct Position {
        var seqNo: Int64
        var primaryTerm: Int64
    }

    struct Stored {
        var record: ArtifactRecord
        var position: Position
    }

    /// Elasticsearch refused a conditional write (409): another writer got in between.
    struct Refused: Error {}

    /// A batch that met another writer part-way, after putting back what it had written.
    struct Interrupted: Error {
        var write: ArtifactWrite
    }

    /// How often a batch that met another writer is tried again before it gives up with `versionConflict`.
    static let attempts = 5

    func documentID(_ kind: String, _ name: String) -> String { Self.escaped(kind + "/" + name) }

    func fetch(_ kind: String, _ name: String) async throws -> Stored? {
        let (status, answer) = try await send(.GET, "/\(index)/_doc/\(documentID(kind, name))", nil)
        if status == 404 { return nil }
        try check(status, answer, "reading \(kind) '\(name)'")
        guard case .object(let source)? = answer.value(atPath: "_source"),
            let version = source["version"]?.doubleValue, let created = source["created_at"]?.doubleValue,
            let updated = source["updated_at"]?.doubleValue, case .string(let encoded)? = source["body"],
            let body = Data(base64Encoded: encoded), let position = Self.position(answer)
        else {
            throw PersistenceError(
                code: .corruptRecord, message: "\(kind) '\(name)' in \(index) lacks fields: \(String(answer.encodedText().prefix(300)))",
                kind: kind, name: name)
        }
        let record = ArtifactRecord(
            kind: kind, name: name, version: Int64(version), body: body, createdAt: Millis.date(Int64(created)),
            updatedAt: Millis.date(Int64(updated)))
        return Stored(record: record, position: position)
    }

    static func position(_ answer: JSONValue) -> Position? {
        guard let seqNo = answer.value(atPath: "_seq_no")?.doubleValue,
            let term = answer.value(atPath: "_primary_term")?.doubleValue
        else { return nil }
        return Position(seqNo: Int64(seqNo), primaryTerm: Int64(term))
    }

    static func source(_ record: ArtifactRecord) -> JSONValue {
        .object([
            "kind": .string(record.kind), "name": .string(record.name), "version": .number(Double(record.version)),
            "created_at": .number(Double(Millis.from(record.createdAt))),
            "updated_at": .number(Double(Millis.from(record.updatedAt))),
            "body": .string(record.body.base64EncodedString()),
        ])
    }

    /// Puts `record` in place of the document, or deletes it when `record` is `nil`, only if the document is still
    /// at `expected` (absent when `nil`). Returns where the document is now (`nil` after a delete); throws
    /// ``Refused`` when another writer changed it.
    func place(
        _ record: ArtifactRecord?, _ key: ArtifactKey, over expected: Position?, _ what: String
    ) async throws -> Position? {
        let id = documentID(key.kind, key.name)
        let condition = expected.map { "if_seq_no=\($0.seqNo)&if_primary_term=\($0.primaryTerm)&" } ?? ""
        let status: Int
        let answer: JSONValue
        do {
            switch (record, expected) {
            case (let record?, nil):
                (status, answer) = try await send(.PUT, "/\(index)/_create/\(id)?refresh=wait_for", Self.source(record))
            case (let record?, _?):
                (status, answer) = try await send(.PUT, "/\(index)/_doc/\(id)?\(condition)refresh=wait_for", Self.source(record))
            case (nil, _?):
                (status, answer) = try await send(.DELETE, "/\(index)/_doc/\(id)?\(condition)refresh=wait_for", nil)
            case (nil, nil):
                return nil
            }
        } catch var error as PersistenceError {
            error.message = "\(what): \(error.message)"  // the request failed: name the write, not only the URL
            throw error
        }
        if status == 409 || (record == nil && status == 404) { throw Refused() }
        try check(status, answer, what)
        guard record != nil else { return nil }
        guard let position = Self.position(answer) else {
            throw PersistenceError(
                code: .storage, message: "\(what): Elasticsearch's answer lacks _seq_no or _primary_term", kind: key.kind,
                name: key.name)
        }
        return position
    }

    public func write(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome] {
        guard !batch.isEmpty else { return [] }
        var interrupted: Interrupted?
        for _ in 0..<Self.attempts {
            do {
                let outcomes = try await attempt(batch)
                if outcomes.contains(where: \.changesSomething) { notices.signal() }
                return outcomes
            } catch let error as Interrupted {
                interrupted = error  // checked again against what the other writer left
            }
        }
        let write = interrupted?.write ?? batch[0]
        throw PersistenceError(
            code: .versionConflict,
            message: "\(write.summary) met another writer \(Self.attempts) times in a row; read it again and retry",
            kind: write.kind, name: write.name)
    }

    /// One try of a batch: check every write against what is stored, write the records, then log them.
    func attempt(_ batch: [ArtifactWrite]) async throws -> [ArtifactWriteOutcome] {
        let time = Millis.normalized(now())
        // 1. Read every artifact of the batch and check every write: a refusal writes nothing.
        var originals: [ArtifactKey: Stored] = [:]
        for key in ArtifactWrite.keys(of: batch) { originals[key] = try await fetch(key.kind, key.name) }
        let outcomes = try ArtifactWrite.outcomes(of: batch, applyingTo: originals.mapValues(\.record), at: time)
        // 2. Write each record only if no one changed it since step 1; on a failure, put back what was written.
        var positions = originals.mapValues(\.position)
        var written: [ArtifactKey] = []
        for (index, (write, outcome)) in zip(batch, outcomes).enumerated() where outcome.changesSomething {
            let what = write.summary(at: index, of: batch.count)
            do {
                positions[write.key] = try await place(outcome.record, write.key, over: positions[write.key], what)
                if !written.contains(write.key) { written.append(write.key) }
            } catch {
                let unrestored = await putBack(written, originals, positions)
                if error is Refused, unrestored.isEmpty { throw Interrupted(write: write) }
                var failure =
                    error is Refused
                    ? PersistenceError(code: .versionConflict, message: "\(what) met another writer")
                    : write.failure(error, at: index, of: batch.count)
                (failure.kind, failure.name) = (write.kind, write.name)
                if !unrestored.isEmpty {
                    failure.message += "; the batch's earlier writes could not be put back for "
                        + unrestored.joined(separator: ", ")
                }
                throw failure
            }
        }
        // 3. Log the changes, with consecutive sequences unless another writer logs at the same time.
        var sequence: Int64?
        for (index, outcome) in outcomes.enumerated() {
            guard let change = outcome.change(sequence: 0, at: time) else { continue }
            do {
                sequence = try await logChange(change, from: sequence.map { $0 + 1 })
            } catch {
                throw PersistenceError.storage(
                    "logging the change of \(batch[index].summary(at: index, of: batch.count)) (the batch's records are "
                        + "written; its change log lacks this and later entries)", error, kind: change.kind, name: change.name)
            }
        }
        return outcomes
    }

    /// Puts back the artifacts a failed batch wrote, each only if no one changed it since this batch did; returns
    /// the artifacts it could not put back ("breeds 'a'").
    func putBack(
        _ written: [ArtifactKey], _ originals: [ArtifactKey: Stored], _ positions: [ArtifactKey: Position]
    ) async -> [String] {
        var unrestored: [String] = []
        for key in written.reversed() {
            let what = "putting back \(key.kind) '\(key.name)'"
            do {
                _ = try await place(originals[key]?.record, key, over: positions[key], what)
            } catch {
                unrestored.append("\(key.kind) '\(key.name)'")
            }
        }
        return unrestored
    }

    public func read(kind: String, name: String) async throws -> ArtifactRecord? {
        try await fetch(kind, name)?.record
    }

    public func list(kind: String, page: PageRequest) async throws -> Page<ArtifactRecord> {
        let request: JSONValue = .object([
            "query": .object(["bool": .object(["filter": .array([.object(["term": .object(["kind": .string(kind)])])])])]),
            "sort": .array([.object(["name": .object(["order": .string("asc")])])]),
            "from": .number(Double(page.offset)), "size": .number(Double(page.perPage)), "track_total_hits": .bool(true),
        ])
        let (status, answer) = try await send(.POST, "/\(index)/_search", request)
        if status == 404 { return Page(items: [], total: 0, request: page) }
        try check(status, answer, "listing \(kind)")
        let total = Int(answer.value(atPath: "hits.total.value")?.doubleValue ?? 0)
        guard case .array(let hits)? = answer.value(atPath: "hits.hits") else { return Page(items: [], total: total, request: page) }
        let records = try hits.map { hit -> ArtifactRecord in
            guard case .object(let source)? = hit.value(atPath: "_source"), case .string(let name)? = source["name"],
                let version = source["version"]?.doubleValue, let created = source["created_at"]?.doubleValue,
                let updated = source["updated_at"]?.doubleValue, case .string(let encoded)? = source["body"],
                let body = Data(base64Encoded: encoded)
            else {
                throw PersistenceError(code: .corruptRecord, message: "a \(kind) document in \(index) lacks fields", kind: kind)
            }
            return ArtifactRecord(
                kind: kind, name: name, version: Int64(version), body: body, createdAt: Millis.date(Int64(created)),
                updatedAt: Millis.date(Int64(updated)))
        }
        return Page(items: records, total: total, request: page)
    }

}

extension JSONValue {
    /// The first element when this is a non-empty array.
    var firstElement: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }
}
