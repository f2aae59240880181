public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
public import VampModel

/// Events in Elasticsearch 7.x/8.x (one index), spoken over its REST API.
///
/// Each event is a document with id = event id: `tags` and `type` as keyword fields,
/// `timestamp` as epoch milliseconds, `seq` (microseconds at append, a tie-breaker for equal
/// timestamps), `value` as unindexed JSON text (returned as is), and `numbers`, the numeric
/// leaves of the value mapped as doubles, which aggregations read (`numbers._value` is the
/// value itself when it is a number). Writes use `refresh=wait_for`, so an appended event is
/// searchable when `append` returns. Call ``prepareIndex()`` once before first use.
public final class ElasticsearchEventStore: EventStore {
    /// Where Elasticsearch is and which index to use.
    public struct Configuration: Sendable {
        /// Base URL, e.g. `http://127.0.0.1:9200`.
        public var url: String
        /// Index name: lowercase, as Elasticsearch requires.
        public var index: String
        /// Limit for each HTTP request.
        public var requestTimeout: Duration

        /// Creates a configuration (index `vamp-pulse-events` by default).
        public init(url: String = "http://127.0.0.1:9200", index: String = "vamp-pulse-events", requestTimeout: Duration = .seconds(10)) {
            self.url = url
            self.index = index
            self.requestTimeout = requestTimeout
        }
    }

    private let client: HTTPClient
    private let base: String
    private let index: String
    private let timeout: TimeAmount
    private let now: @Sendable () -> Date
    private let broadcaster = EventBroadcaster()
    private let lastSequence = Mutex<Int64>(0)

    /// Creates a store; `client` defaults to the shared AsyncHTTPClient.
    public init(
        configuration: Configuration = Configuration(), client: HTTPClient = .shared,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        let index = configuration.index
        let forbidden = CharacterSet(charactersIn: "\\/*?\"<>| ,#:")
        guard !index.isEmpty, index == index.lowercased(), index.rangeOfCharacter(from: forbidden) == nil,
            !["-", "_", "+"].contains(index.first.map(String.init) ?? ""), index != ".", index != ".."
        else {
            throw PersistenceError(code: .storage, message: "'\(index)' is not a valid Elasticsearch index name")
        }
        self.client = client
        self.base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        self.index = index
        self.timeout = .nanoseconds(
            configuration.requestTimeout.components.seconds * 1_000_000_000
                + configuration.requestTimeout.components.attoseconds / 1_000_000_000)
        self.now = now
    }

    /// Creates the index with its mappings; an existing index is left as it is.
    public func prepareIndex() async throws {
        let mappings: JSONValue = .object([
            "settings": .object(["number_of_shards": .number(1)]),
            "mappings": .object([
                // Numeric leaves under `numbers` become doubles. `match_mapping_type` keeps the
                // templates off the objects in between (`numbers.a` of `{"a": {"b": 4}}`), which
                // a bare `path_match` would map as double and then refuse (elastic/elasticsearch#32595).
                // JSON integers are detected as `long`, fractions as `double`: one template each.
                "dynamic_templates": .array([
                    .object([
                        "numbers_long": .object([
                            "path_match": .string("numbers.*"), "match_mapping_type": .string("long"),
                            "mapping": .object(["type": .string("double")]),
                        ])
                    ]),
                    .object([
                        "numbers_double": .object([
                            "path_match": .string("numbers.*"), "match_mapping_type": .string("double"),
                            "mapping": .object(["type": .string("double")]),
                        ])
                    ]),
                ]),
                "properties": .object([
                    "id": .object(["type": .string("keyword")]),
                    "tags": .object(["type": .string("keyword")]),
                    "type": .object(["type": .string("keyword")]),
                    "timestamp": .object(["type": .string("date"), "format": .string("epoch_millis")]),
                    "seq": .object(["type": .string("long")]),
                    "value": .object(["type": .string("keyword"), "index": .bool(false), "doc_values": .bool(false)]),
                    "numbers": .object(["type": .string("object")]),
                ]),
            ]),
        ])
        let (status, body) = try await send(.PUT, "/\(index)", mappings)
        if status == 400, case .object(let error)? = body.value(atPath: "error"),
            error["type"] == .string("resource_already_exists_exception")
        {
            return
        }
        try check(status, body, "creating index \(index)")
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
            let reason = body.value(atPath: "error.reason").flatMap { if case .string(let s) = $0 { s } else { nil } }
            throw PersistenceError(
                code: .storage,
                message: "\(what) failed: Elasticsearch answered \(status)\(reason.map { ": \($0)" } ?? ""); body: "
                    + String(body.encodedText().prefix(500)))
        }
    }

    private static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? id
    }

    // MARK: Documents

    /// The numeric leaves of `value`, keeping object structure; `_value` for a bare number.
    static func numbers(of value: JSONValue?) -> JSONValue? {
        func leaves(_ value: JSONValue) -> JSONValue? {
            switch value {
            case .number: return value
            case .object(let object):
                let kept = object.compactMapValues(leaves)
                return kept.isEmpty ? nil : .object(kept)
            default: return nil
            }
        }
        switch value {
        case .number(let number)?: return .object(["_value": .number(number)])
        case .object?: return leaves(value!)
        default: return nil
        }
    }

    private func nextSequence() -> Int64 {
        let micros = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
        return lastSequence.withLock { last in
            last = max(last + 1, micros)
            return last
        }
    }

    @discardableResult
    public func append(_ event: Event) async throws -> Event {
        let prepared = try event.prepared()
        var document: [String: JSONValue] = [
            "id": .string(prepared.storedID),
            "tags": .array(prepared.tags.sorted().map(JSONValue.string)),
            "type": .string(prepared.type),
            "timestamp": .number(Double(Millis.from(prepared.timestamp))),
            "seq": .number(Double(nextSequence())),
            "value": prepared.value.map { .string($0.encodedText()) } ?? .null,
        ]
        if let numbers = Self.numbers(of: prepared.value) { document["numbers"] = numbers }
        let (status, body) = try await send(
            .PUT, "/\(index)/_create/\(Self.escaped(prepared.storedID))?refresh=wait_for", .object(document))
        if status == 409 {
            throw PersistenceError.duplicateEvent(prepared.storedID)
        }
        try check(status, body, "appending an event")
        broadcaster.publish(prepared)
        return prepared
    }

    private func filter(_ query: EventQuery) throws -> JSONValue {
        let range = try query.timestamp.resolved(now: now())
        var filters: [JSONValue] = query.tags.sorted().map { .object(["term": .object(["tags": .string($0)])]) }
        if let type = query.type { filters.append(.object(["term": .object(["type": .string(type)])])) }
        var bounds: [String: JSONValue] = [:]
        if let lower = range.lower { bounds["gte"] = .number(Double(lower)) }
        if let upper = range.upper { bounds["lte"] = .number(Double(upper)) }
        if !bounds.isEmpty { filters.append(.object(["range": .object(["timestamp": .object(bounds)])])) }
        return .object(["bool": .object(["filter": .array(filters)])])
    }

    private func search(_ query: EventQuery, from: Int, size: Int, countTotal: Bool) async throws -> (Int, [Event]) {
        let request: JSONValue = .object([
            "from": .number(Double(from)), "size": .number(Double(size)), "track_total_hits": .bool(countTotal),
            "query": try filter(query),
            "sort": .array([
                .object(["timestamp": .object(["order": .string("desc")])]),
                .object(["seq": .object(["order": .string("desc")])]),
            ]),
        ])
        let (status, body) = try await send(.POST, "/\(index)/_search", request)
        try check(status, body, "querying events")
        let total = body.value(atPath: "hits.total.value")?.doubleValue.map { Int($0) } ?? 0
        guard case .array(let hits)? = body.value(atPath: "hits.hits") else { return (total, []) }
        let events = try hits.map { hit -> Event in
            guard case .object(let source)? = hit.value(atPath: "_source"), case .string(let id)? = source["id"],
                case .string(let type)? = source["type"], case .array(let tags)? = source["tags"],
                let millis = source["timestamp"]?.doubleValue
            else {
                throw PersistenceError(code: .corruptRecord, message: "an event document in \(index) lacks fields: \(hit.encodedText())")
            }
            var value: JSONValue?
            if case .string(let text)? = source["value"] { value = try JSONValue.decode(text: text) }
            return Event.stored(
                id: id, tags: Set(tags.compactMap { if case .string(let tag) = $0 { tag } else { nil } }), type: type,
                timestamp: Millis.date(Int64(millis)), value: value)
        }
        return (total, events)
    }

    public func events(matching query: EventQuery, page: PageRequest) async throws -> Page<Event> {
        let (total, items) = try await search(query, from: page.offset, size: page.perPage, countTotal: true)
        return Page(items: items, total: total, request: page)
    }

    public func latest(matching query: EventQuery) async throws -> Event? {
        try await search(query, from: 0, size: 1, countTotal: false).1.first
    }

    public func aggregate(_ aggregation: EventAggregation, matching query: EventQuery) async throws -> Double? {
        let field = "numbers." + ((aggregation.field ?? "").isEmpty ? "_value" : aggregation.field!)
        let name: String
        switch aggregation.function {
        case .count, .sum: name = "sum"
        case .min: name = "min"
        case .max: name = "max"
        case .average: name = "avg"
        }
        let request: JSONValue = .object([
            "size": .number(0), "track_total_hits": .bool(true), "query": try filter(query),
            "aggs": .object([
                "result": .object([name: .object(["field": .string(field)])]),
                "numbers": .object(["value_count": .object(["field": .string(field)])]),
            ]),
        ])
        let (status, body) = try await send(.POST, "/\(index)/_search", request)
        try check(status, body, "aggregating events")
        if aggregation.function == .count {
            return body.value(atPath: "hits.total.value")?.doubleValue ?? 0
        }
        // Elasticsearch's sum of nothing is 0; this API says nil when no number was found.
        guard let count = body.value(atPath: "aggregations.numbers.value")?.doubleValue, count > 0 else { return nil }
        return body.value(atPath: "aggregations.result.value")?.doubleValue
    }

    public func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        broadcaster.subscribe(filter)
    }

    @discardableResult
    public func deleteEvents(before cutoff: Date) async throws -> Int {
        let request: JSONValue = .object([
            "query": .object(["range": .object(["timestamp": .object(["lt": .number(Double(Millis.from(cutoff)))])])])
        ])
        let (status, body) = try await send(.POST, "/\(index)/_delete_by_query?conflicts=proceed&refresh=true", request)
        try check(status, body, "deleting old events")
        return Int(body.value(atPath: "deleted")?.doubleValue ?? 0)
    }
}
