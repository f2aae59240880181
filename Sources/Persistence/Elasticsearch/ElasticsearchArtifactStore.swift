public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import VampModel

/// Artifacts in Elasticsearch, as Vamp 0.9 kept them: one document per artifact in one index,
/// with versions, optimistic concurrency and a change log.
///
/// - **Records**: index `<index>`, document id `<kind>/<name>`, fields `kind`, `name`,
///   `version`, `created_at`, `updated_at` and `body` (base64, not indexed).
/// - **Concurrency**: `update` and `delete` read the document's `_seq_no` and `_primary_term`
///   and write with `if_seq_no`/`if_primary_term`; Elasticsearch refuses the write with 409 when
///   another writer got in between, which becomes `versionConflict`. `create` uses `_create`.
/// - **Change log**: index `<index>-changes`, one document per change with id = its sequence.
///   A writer takes the highest sequence it can see plus one through `_create` and moves up on
///   409, so a sequence exists only when every smaller one does, and every write uses
///   `refresh=wait_for`: a reader that saw sequence `n` never later finds a new entry below `n`.
///
/// Elasticsearch has no transaction spanning two documents: the record is written first, then
/// its change-log entry. A crash between the two loses that entry (the record is kept), and two
/// writers of *different* artifacts may log in the opposite order of their writes; changes of one
/// artifact are logged in version order only when its writers are not concurrent. Followers
/// should compare versions. Use SQLite or PostgreSQL when the log must be exact.
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

    private let client: HTTPClient
    private let base: String
    private let index: String
    private let changesIndex: String
    private let timeout: TimeAmount
    private let now: @Sendable () -> Date

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

    private struct Stored {
        var record: ArtifactRecord
        var seqNo: Int64
        var primaryTerm: Int64
    }

    private func documentID(_ kind: String, _ name: String) -> String { Self.escaped(kind + "/" + name) }

    private func fetch(_ kind: String, _ name: String) async throws -> Stored? {
        let (status, answer) = try await send(.GET, "/\(index)/_doc/\(documentID(kind, name))", nil)
        if status == 404 { return nil }
        try check(status, answer, "reading \(kind) '\(name)'")
        guard case .object(let source)? = answer.value(atPath: "_source"),
            let version = source["version"]?.doubleValue, let created = source["created_at"]?.doubleValue,
            let updated = source["updated_at"]?.doubleValue, case .string(let encoded)? = source["body"],
            let body = Data(base64Encoded: encoded), let seqNo = answer.value(atPath: "_seq_no")?.doubleValue,
            let term = answer.value(atPath: "_primary_term")?.doubleValue
        else {
            throw PersistenceError(
                code: .corruptRecord, message: "\(kind) '\(name)' in \(index) lacks fields: \(String(answer.encodedText().prefix(300)))",
                kind: kind, name: name)
        }
        let record = ArtifactRecord(
            kind: kind, name: name, version: Int64(version), body: body, createdAt: Millis.date(Int64(created)),
            updatedAt: Millis.date(Int64(updated)))
        return Stored(record: record, seqNo: Int64(seqNo), primaryTerm: Int64(term))
    }

    private static func source(_ record: ArtifactRecord) -> JSONValue {
        .object([
            "kind": .string(record.kind), "name": .string(record.name), "version": .number(Double(record.version)),
            "created_at": .number(Double(Millis.from(record.createdAt))),
            "updated_at": .number(Double(Millis.from(record.updatedAt))),
            "body": .string(record.body.base64EncodedString()),
        ])
    }

    public func create(kind: String, name: String, body: Data) async throws -> ArtifactRecord {
        let time = Millis.normalized(now())
        let record = ArtifactRecord(kind: kind, name: name, version: 1, body: body, createdAt: time, updatedAt: time)
        let (status, answer) = try await send(
            .PUT, "/\(index)/_create/\(documentID(kind, name))?refresh=wait_for", Self.source(record))
        if status == 409 {
            let existing = try await fetch(kind, name)
            throw PersistenceError.alreadyExists(kind: kind, name: name, version: existing?.record.version ?? 0)
        }
        try check(status, answer, "creating \(kind) '\(name)'")
        try await logChange(.create, record, body: body)
        return record
    }

    public func read(kind: String, name: String) async throws -> ArtifactRecord? {
        try await fetch(kind, name)?.record
    }

    public func update(kind: String, name: String, body: Data, expectedVersion: Int64) async throws -> ArtifactRecord {
        guard let stored = try await fetch(kind, name) else { throw PersistenceError.notFound(kind: kind, name: name) }
        guard stored.record.version == expectedVersion else {
            throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: stored.record.version)
        }
        var record = stored.record
        record.version += 1
        record.body = body
        record.updatedAt = Millis.normalized(now())
        let (status, answer) = try await send(
            .PUT,
            "/\(index)/_doc/\(documentID(kind, name))?if_seq_no=\(stored.seqNo)&if_primary_term=\(stored.primaryTerm)&refresh=wait_for",
            Self.source(record))
        if status == 409 { throw try await conflictAfterRefusal(kind, name, expectedVersion) }
        try check(status, answer, "updating \(kind) '\(name)'")
        try await logChange(.update, record, body: body)
        return record
    }

    public func delete(kind: String, name: String, expectedVersion: Int64?) async throws {
        guard let stored = try await fetch(kind, name) else { throw PersistenceError.notFound(kind: kind, name: name) }
        if let expectedVersion, stored.record.version != expectedVersion {
            throw PersistenceError.conflict(kind: kind, name: name, expected: expectedVersion, actual: stored.record.version)
        }
        let (status, answer) = try await send(
            .DELETE,
            "/\(index)/_doc/\(documentID(kind, name))?if_seq_no=\(stored.seqNo)&if_primary_term=\(stored.primaryTerm)&refresh=wait_for",
            nil)
        if status == 409 {
            if expectedVersion == nil { return try await delete(kind: kind, name: name, expectedVersion: nil) }
            throw try await conflictAfterRefusal(kind, name, expectedVersion ?? stored.record.version)
        }
        if status == 404 { throw PersistenceError.notFound(kind: kind, name: name) }
        try check(status, answer, "deleting \(kind) '\(name)'")
        try await logChange(.delete, stored.record, body: nil)
    }

    /// The error for a write Elasticsearch refused with 409: what is stored now.
    private func conflictAfterRefusal(_ kind: String, _ name: String, _ expected: Int64) async throws -> PersistenceError {
        guard let current = try await fetch(kind, name) else { return PersistenceError.notFound(kind: kind, name: name) }
        return PersistenceError.conflict(kind: kind, name: name, expected: expected, actual: current.record.version)
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

    // MARK: Change log

    private func highestSequence() async throws -> Int64 {
        let request: JSONValue = .object([
            "size": .number(1), "sort": .array([.object(["sequence": .object(["order": .string("desc")])])]),
            "track_total_hits": .bool(false),
        ])
        let (status, answer) = try await send(.POST, "/\(changesIndex)/_search", request)
        if status == 404 { return 0 }
        try check(status, answer, "reading the change log")
        return Int64(answer.value(atPath: "hits.hits")?.firstElement?.value(atPath: "_source.sequence")?.doubleValue ?? 0)
    }

    private func logChange(_ operation: ArtifactChange.Operation, _ record: ArtifactRecord, body: Data?) async throws {
        var sequence = try await highestSequence() + 1
        let time = Millis.normalized(now())
        while true {
            var source: [String: JSONValue] = [
                "sequence": .number(Double(sequence)), "operation": .string(operation.rawValue),
                "kind": .string(record.kind), "name": .string(record.name), "version": .number(Double(record.version)),
                "timestamp": .number(Double(Millis.from(time))),
            ]
            if let body { source["body"] = .string(body.base64EncodedString()) }
            let (status, answer) = try await send(.PUT, "/\(changesIndex)/_create/\(sequence)?refresh=wait_for", .object(source))
            if status == 409 {
                sequence += 1  // taken by another writer: the next one
                continue
            }
            try check(status, answer, "logging the \(operation.rawValue) of \(record.kind) '\(record.name)'")
            return
        }
    }

    public func changes(after sequence: Int64, limit: Int) async throws -> [ArtifactChange] {
        guard limit > 0 else { return [] }
        let request: JSONValue = .object([
            "query": .object(["range": .object(["sequence": .object(["gt": .number(Double(sequence))])])]),
            "sort": .array([.object(["sequence": .object(["order": .string("asc")])])]),
            "size": .number(Double(min(limit, 10_000))), "track_total_hits": .bool(false),
        ])
        let (status, answer) = try await send(.POST, "/\(changesIndex)/_search", request)
        if status == 404 { return [] }
        try check(status, answer, "reading the change log")
        guard case .array(let hits)? = answer.value(atPath: "hits.hits") else { return [] }
        return try hits.map { hit -> ArtifactChange in
            guard case .object(let source)? = hit.value(atPath: "_source"), let number = source["sequence"]?.doubleValue,
                case .string(let operationName)? = source["operation"],
                let operation = ArtifactChange.Operation(rawValue: operationName), case .string(let kind)? = source["kind"],
                case .string(let name)? = source["name"], let version = source["version"]?.doubleValue,
                let time = source["timestamp"]?.doubleValue
            else {
                throw PersistenceError(code: .corruptRecord, message: "a change in \(changesIndex) lacks fields")
            }
            var body: Data?
            if case .string(let encoded)? = source["body"] { body = Data(base64Encoded: encoded) }
            return ArtifactChange(
                sequence: Int64(number), operation: operation, kind: kind, name: name, version: Int64(version),
                timestamp: Millis.date(Int64(time)), body: body)
        }
    }

    // MARK: HTTP

    private func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue?) async throws -> (Int, JSONValue) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.encodedText()))
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            let text = String(buffer: bytes)
            let json = (try? JSONValue.decode(text: text)) ?? .string(text)
            return (Int(response.status.code), json)
        } catch {
            throw PersistenceError.storage("\(method) \(path) on Elasticsearch at \(base)", error)
        }
    }

    private func check(_ status: Int, _ body: JSONValue, _ what: String) throws {
        guard (200..<300).contains(status) else {
            let reason = body.value(atPath: "error.reason")?.stringValue
            throw PersistenceError(
                code: .storage,
                message: "\(what) failed: Elasticsearch answered \(status)\(reason.map { ": \($0)" } ?? ""); body: "
                    + String(body.encodedText().prefix(500)))
        }
    }

    private static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? id
    }
}

extension JSONValue {
    /// The first element when this is a non-empty array.
    fileprivate var firstElement: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }
}
