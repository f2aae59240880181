import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Persistence
import Synchronization
import VampModel

/// An in-process HTTP server that answers the part of the Elasticsearch 8.x REST API described
/// in `elasticsearch-api.md` that an event store uses: index creation, `_doc`/`_create`, get,
/// delete, `_search` (bool filter with term/terms/range incl. date math, sort, from/size,
/// track_total_hits, min/max/avg/sum/value_count), `_count`, `_refresh`, `_delete_by_query`.
/// Search is near-real-time: a write is invisible to `_search` until a refresh
/// (`refresh=true|wait_for`, or `POST /{index}/_refresh`); get is realtime.
final class FakeElasticsearch: Sendable {
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
    private let channel: any Channel
    let state: FakeElasticsearchState

    private init(port: Int, channel: any Channel, state: FakeElasticsearchState) {
        self.port = port
        self.channel = channel
        self.state = state
    }

    /// Starts the fake on a free 127.0.0.1 port; `now` is its clock for date math.
    static func start(now: @escaping @Sendable () -> Date = { Date() }) async throws -> FakeElasticsearch {
        let state = FakeElasticsearchState(now: now)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(FakeElasticsearchHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw FakeElasticsearchError("no local port") }
        return FakeElasticsearch(port: port, channel: channel, state: state)
    }

    func stop() async {
        try? await channel.close()
    }
}

struct FakeElasticsearchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private final class FakeElasticsearchHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: FakeElasticsearchState
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(state: FakeElasticsearchState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let (status, json) = state.handle(method: head.method.rawValue, uri: head.uri, body: String(buffer: body))
            let bytes = head.method == .HEAD ? ByteBuffer() : ByteBuffer(string: json.encodedJSON())
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
            headers.add(name: "X-Elastic-Product", value: "Elasticsearch")
            headers.add(name: "Content-Length", value: String(bytes.readableBytes))
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}

extension JSONValue {
    func encodedJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }
}

/// One entry of `dynamic_templates`: `path_match` (a `*` glob on the dotted path), an optional
/// `match_mapping_type` (`long`, `double`, `string`, `boolean`, `object` or `*`) and the type it maps to.
struct DynamicTemplate {
    var name: String
    var pathMatch: String
    var matchMappingType: String?
    var type: String

    /// Whether the template applies to a new field at `path` whose JSON value Elasticsearch
    /// detected as `detected`. Without `match_mapping_type` it applies to any field, objects
    /// included (elastic/elasticsearch#32595).
    func matches(path: String, detected: String) -> Bool {
        if let type = matchMappingType, type != "*", type != detected { return false }
        return Self.glob(pathMatch, path)
    }

    static func glob(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.hasPrefix(parts[0]) else { return false }
        var rest = text.dropFirst(parts[0].count)
        for (offset, part) in parts.dropFirst().enumerated() {
            let isLast = offset == parts.count - 2
            if isLast { return part.isEmpty || rest.hasSuffix(part) }
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}

/// Applies an index's mappings to a document as Elasticsearch 7.x does: declared field types,
/// then dynamic templates, then the default dynamic mapping. A value that does not fit its
/// field's type is refused with `mapper_parsing_exception` and nothing is mapped.
struct DocumentMapper {
    var fieldTypes: [String: String]
    let templates: [DynamicTemplate]
    let id: String

    struct Refusal: Error {
        let response: (Int, JSONValue)
    }

    static func declaredTypes(_ properties: JSONValue?, prefix: String = "") -> [String: String] {
        guard case .object(let fields)? = properties else { return [:] }
        var types: [String: String] = [:]
        for (name, definition) in fields {
            let path = prefix.isEmpty ? name : prefix + "." + name
            if case .string(let type)? = definition["type"] {
                types[path] = type
            } else if definition["properties"] != nil {
                types[path] = "object"
            }
            types.merge(declaredTypes(definition["properties"], prefix: path)) { _, new in new }
        }
        return types
    }

    static func templates(_ mappings: JSONValue) -> [DynamicTemplate] {
        guard case .array(let entries)? = mappings["dynamic_templates"] else { return [] }
        return entries.compactMap { entry -> DynamicTemplate? in
            guard case .object(let named) = entry, let (name, body) = named.first,
                case .string(let pathMatch)? = body["path_match"], case .string(let type)? = body["mapping"]?["type"]
            else { return nil }
            return DynamicTemplate(name: name, pathMatch: pathMatch, matchMappingType: body["match_mapping_type"]?.stringValue, type: type)
        }
    }

    /// Java's `Map.toString()`-like preview Elasticsearch prints.
    static func preview(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return String(flag)
        case .number(let text): return text
        case .string(let text): return text
        case .array(let items): return "[" + items.map(preview).joined(separator: ", ") + "]"
        case .object(let fields): return "{" + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(preview($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    func failedToParse(_ path: String, _ type: String, _ value: JSONValue, cause: (String, String)) -> Refusal {
        let reason = "failed to parse field [\(path)] of type [\(type)] in document with id '\(id)'. Preview of field's value: '\(Self.preview(value))'"
        var (status, body) = FakeElasticsearchState.error(400, "mapper_parsing_exception", reason)
        if case .object(var error)? = body["error"] {
            error["caused_by"] = .object(["type": .string(cause.0), "reason": .string(cause.1)])
            body = .object(["error": .object(error), "status": .number(Double(status))])
        }
        status = 400
        return Refusal(response: (status, body))
    }

    static func detected(_ value: JSONValue) -> String {
        switch value {
        case .object: return "object"
        case .bool: return "boolean"
        case .number(let text): return text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? "double" : "long"
        default: return "string"
        }
    }

    mutating func map(_ value: JSONValue, path: String = "") throws(Refusal) {
        switch value {
        case .null:
            return
        case .array(let items):
            for item in items { try map(item, path: path) }
        case .object(let fields):
            if !path.isEmpty { try check(value, at: path) }
            for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
                try map(field, path: path.isEmpty ? name : path + "." + name)
            }
        default:
            try check(value, at: path)
        }
    }

    /// Maps a new field, then checks that the value fits the field's type.
    private mutating func check(_ value: JSONValue, at path: String) throws(Refusal) {
        let detected = Self.detected(value)
        if fieldTypes[path] == nil {
            if let template = templates.first(where: { $0.matches(path: path, detected: detected) }) {
                fieldTypes[path] = template.type
            } else {
                fieldTypes[path] = detected == "string" ? "text" : detected
            }
        }
        let type = fieldTypes[path]!
        let last = String(path.split(separator: ".").last ?? Substring(path))
        switch (type, value) {
        case ("object", .object), ("nested", .object):
            return
        case ("object", _), ("nested", _):
            let reason = "object mapping for [\(path)] tried to parse field [\(last)] as object, but found a concrete value"
            throw Refusal(response: FakeElasticsearchState.error(400, "mapper_parsing_exception", reason))
        case (_, .object):
            throw failedToParse(path, type, value, cause: ("illegal_state_exception", "Can't get text on a START_OBJECT"))
        case ("double", _), ("float", _), ("long", _), ("integer", _), ("short", _), ("byte", _), ("half_float", _), ("scaled_float", _):
            switch value {
            case .number: return
            case .string(let text) where Double(text) != nil: return  // coerce, as by default
            case .bool:
                throw failedToParse(path, type, value, cause: ("illegal_argument_exception", "Current token (VALUE_\(value == .bool(true) ? "TRUE" : "FALSE")) not numeric, can not use numeric value accessors"))
            default:
                throw failedToParse(path, type, value, cause: ("number_format_exception", "For input string: \"\(Self.preview(value))\""))
            }
        case ("date", .number), ("date", .string):
            if case .string(let text) = value, Double(text) == nil, ISO8601DateFormatter().date(from: text) == nil {
                throw failedToParse(path, type, value, cause: ("illegal_argument_exception", "failed to parse date field [\(text)] with format [strict_date_optional_time||epoch_millis]"))
            }
        case ("boolean", .bool):
            return
        case ("boolean", .string(let text)) where text == "true" || text == "false" || text.isEmpty:
            return
        case ("boolean", _):
            throw failedToParse(path, type, value, cause: ("illegal_argument_exception", "Failed to parse value [\(Self.preview(value))] as only [true] or [false] are allowed."))
        default:
            return  // keyword and text take any scalar
        }
    }
}

/// The fake's indices and the request handling, behind a lock.
final class FakeElasticsearchState: Sendable {
    struct Document {
        var source: JSONValue
        var version: Int
        var seqNo: Int
    }

    struct Index {
        var documents: [String: Document] = [:]
        /// What `_search` sees: the documents as of the last refresh.
        var searchable: [String: Document] = [:]
        var nextSeqNo = 0
        var mappings: JSONValue = .object([:])
        /// Field types by dotted path: the declared `properties`, plus what dynamic mapping
        /// (dynamic templates first, then Elasticsearch's defaults) added.
        var fieldTypes: [String: String] = [:]
        /// The declared `dynamic_templates`, in order.
        var templates: [DynamicTemplate] = []
        /// `_version` of deleted ids, continued when they are written again.
        var tombstones: [String: Int] = [:]

        mutating func refresh() { searchable = documents }
    }

    private let indices = Mutex<[String: Index]>([:])
    /// Documents (`index/id`) whose writes and deletes fail with 500, as a failing disk would make them.
    private let failingDocuments = Mutex<Set<String>>([])
    let now: @Sendable () -> Date
    static let maxResultWindow = 10_000

    init(now: @escaping @Sendable () -> Date) { self.now = now }

    /// The documents of `index` that `_search` would see now (for tests).
    func searchableCount(_ index: String) -> Int { indices.withLock { $0[index]?.searchable.count ?? 0 } }

    /// Makes every write and delete of document `id` in `index` fail with 500 (fault injection for tests).
    func failWrites(of id: String, in index: String) { _ = failingDocuments.withLock { $0.insert(index + "/" + id) } }

    func handle(method: String, uri: String, body: String) -> (Int, JSONValue) {
        let components = URLComponents(string: uri)
        let path = (components?.percentEncodedPath ?? uri).split(separator: "/").map {
            String($0).removingPercentEncoding ?? String($0)
        }
        if path.count == 3, ["_doc", "_create"].contains(path[1]), ["PUT", "POST", "DELETE"].contains(method),
            failingDocuments.withLock({ $0.contains(path[0] + "/" + path[2]) })
        {
            return Self.error(500, "injected_failure_exception", "writes of [\(path[2])] fail (injected by the test)")
        }
        var parameters: [String: String] = [:]
        for item in components?.queryItems ?? [] { parameters[item.name] = item.value ?? "" }
        let json: JSONValue?
        if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            json = nil
        } else if let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) {
            json = parsed
        } else {
            return Self.error(400, "x_content_parse_exception", "Failed to parse the request body")
        }
        return indices.withLock { indices in
            route(&indices, method: method, path: path, parameters: parameters, body: json, uri: uri)
        }
    }

    // MARK: Routing

    private func route(
        _ indices: inout [String: Index], method: String, path: [String], parameters: [String: String], body: JSONValue?,
        uri: String
    ) -> (Int, JSONValue) {
        let noHandler: (Int, JSONValue) = (
            400, .object(["error": .string("no handler found for uri [\(uri)] and method [\(method)]"), "status": .number(400)])
        )
        func methodNotAllowed(_ allowed: [String]) -> (Int, JSONValue) {
            (405, .object([
                "error": .string("Incorrect HTTP method for uri [\(uri)] and method [\(method)], allowed: [\(allowed.joined(separator: ", "))]"),
                "status": .number(405),
            ]))
        }
        switch path.count {
        case 0:
            guard method == "GET" || method == "HEAD" else { return methodNotAllowed(["GET", "HEAD"]) }
            return (200, .object([
                "name": .string("fake"), "cluster_name": .string("vamp-test"),
                "version": .object(["number": .string("8.11.0")]), "tagline": .string("You Know, for Search"),
            ]))
        case 1:
            let index = path[0]
            switch method {
            case "PUT": return createIndex(&indices, index, body)
            case "DELETE":
                guard indices.removeValue(forKey: index) != nil else { return Self.indexNotFound(index) }
                return (200, .object(["acknowledged": .bool(true)]))
            case "GET", "HEAD":
                guard let found = indices[index] else { return Self.indexNotFound(index) }
                return (200, .object([index: .object(["mappings": found.mappings])]))
            default: return methodNotAllowed(["DELETE", "GET", "HEAD", "PUT"])
            }
        case 2:
            let index = path[0]
            switch path[1] {
            case "_search":
                guard method == "GET" || method == "POST" else { return methodNotAllowed(["GET", "POST"]) }
                return search(&indices, index, body ?? .object([:]))
            case "_count":
                guard method == "GET" || method == "POST" else { return methodNotAllowed(["GET", "POST"]) }
                return count(&indices, index, body ?? .object([:]))
            case "_refresh":
                guard method == "POST" || method == "GET" else { return methodNotAllowed(["GET", "POST"]) }
                let names = matchingIndices(indices, index)
                guard !names.isEmpty || index.contains("*") else { return Self.indexNotFound(index) }
                for name in names { indices[name]?.refresh() }
                return (200, .object(["_shards": Self.shards(total: names.count, successful: names.count)]))
            case "_delete_by_query":
                guard method == "POST" else { return methodNotAllowed(["POST"]) }
                return deleteByQuery(&indices, index, body ?? .object([:]), parameters)
            case "_doc":
                guard method == "POST" else { return methodNotAllowed(["POST"]) }
                let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20))
                return write(&indices, index, id, body, createOnly: false, parameters)
            default: return noHandler
            }
        case 3 where path[1] == "_doc" || path[1] == "_create":
            let (index, id) = (path[0], path[2])
            if path[1] == "_create" {
                guard method == "PUT" || method == "POST" else { return methodNotAllowed(["POST", "PUT"]) }
                return write(&indices, index, id, body, createOnly: true, parameters)
            }
            switch method {
            case "PUT", "POST":
                return write(&indices, index, id, body, createOnly: parameters["op_type"] == "create", parameters)
            case "GET", "HEAD": return get(indices, index, id)
            case "DELETE": return delete(&indices, index, id, parameters)
            default: return methodNotAllowed(["DELETE", "GET", "HEAD", "POST", "PUT"])
            }
        default:
            return noHandler
        }
    }

    // MARK: Indices and documents

    static func error(
        _ status: Int, _ type: String, _ reason: String, extra: [String: JSONValue] = [:],
        rootCause: (type: String, reason: String)? = nil
    ) -> (Int, JSONValue) {
        var error: [String: JSONValue] = ["type": .string(type), "reason": .string(reason)]
        error.merge(extra) { _, new in new }
        var cause = error
        if let rootCause { cause = ["type": .string(rootCause.type), "reason": .string(rootCause.reason)] }
        cause["caused_by"] = nil
        error["root_cause"] = .array([.object(cause)])
        return (status, .object(["error": .object(error), "status": .number(Double(status))]))
    }

    static func indexNotFound(_ index: String) -> (Int, JSONValue) {
        error(404, "index_not_found_exception", "no such index [\(index)]", extra: [
            "resource.type": .string("index_or_alias"), "resource.id": .string(index), "index_uuid": .string("_na_"),
            "index": .string(index),
        ])
    }

    static func shards(total: Int = 2, successful: Int = 1) -> JSONValue {
        .object(["total": .number(Double(total)), "successful": .number(Double(successful)), "failed": .number(0)])
    }

    static func invalidIndexName(_ index: String) -> String? {
        if index != index.lowercased() { return "must be lowercase" }
        if index.rangeOfCharacter(from: CharacterSet(charactersIn: "\\/*?\"<>| ,#:")) != nil {
            return "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, :, #]"
        }
        if let first = index.first, "-_+".contains(first) { return "must not start with '_', '-', or '+'" }
        if index == "." || index == ".." { return "must not be '.' or '..'" }
        if index.utf8.count > 255 { return "index name is too long, (\(index.utf8.count) > 255)" }
        return nil
    }

    private func createIndex(_ indices: inout [String: Index], _ index: String, _ body: JSONValue?) -> (Int, JSONValue) {
        if let problem = Self.invalidIndexName(index) {
            return Self.error(400, "invalid_index_name_exception", "Invalid index name [\(index)], \(problem)", extra: ["index": .string(index)])
        }
        guard indices[index] == nil else {
            return Self.error(400, "resource_already_exists_exception", "index [\(index)/fake-uuid] already exists", extra: ["index": .string(index)])
        }
        var created = Index()
        created.mappings = body?["mappings"] ?? .object([:])
        created.fieldTypes = DocumentMapper.declaredTypes(created.mappings["properties"])
        created.templates = DocumentMapper.templates(created.mappings)
        indices[index] = created
        return (200, .object(["acknowledged": .bool(true), "shards_acknowledged": .bool(true), "index": .string(index)]))
    }

    private static func refreshRequested(_ parameters: [String: String]) -> Bool {
        guard let refresh = parameters["refresh"] else { return false }
        return refresh == "" || refresh == "true" || refresh == "wait_for"
    }

    private func write(
        _ indices: inout [String: Index], _ index: String, _ id: String, _ body: JSONValue?, createOnly: Bool,
        _ parameters: [String: String]
    ) -> (Int, JSONValue) {
        guard case .object? = body else {
            return Self.error(400, "parsing_exception", "request body is required")
        }
        if indices[index] == nil {
            if let problem = Self.invalidIndexName(index) {
                return Self.error(400, "invalid_index_name_exception", "Invalid index name [\(index)], \(problem)", extra: ["index": .string(index)])
            }
            indices[index] = Index()  // action.auto_create_index
        }
        var target = indices[index]!
        defer { indices[index] = target }
        let existing = target.documents[id]
        if let existing, createOnly {
            return Self.error(409, "version_conflict_engine_exception",
                "[\(id)]: version conflict, document already exists (current version [\(existing.version)])",
                extra: ["index_uuid": .string("fake-uuid"), "shard": .string("0"), "index": .string(index)])
        }
        if let ifSeqNo = parameters["if_seq_no"].flatMap(Int.init) {
            guard let existing, existing.seqNo == ifSeqNo else {
                let current = existing.map { "current document has seqNo [\($0.seqNo)] and primary term [1]" } ?? "but no document was found"
                return Self.error(409, "version_conflict_engine_exception",
                    "[\(id)]: version conflict, required seqNo [\(ifSeqNo)], primary term [1]. \(current)",
                    extra: ["index_uuid": .string("fake-uuid"), "shard": .string("0"), "index": .string(index)])
            }
        }
        // Mapping comes before the write: a refused document changes neither data nor mappings.
        var mapper = DocumentMapper(fieldTypes: target.fieldTypes, templates: target.templates, id: id)
        do {
            try mapper.map(body!)
        } catch {
            return error.response
        }
        target.fieldTypes = mapper.fieldTypes
        let version = (existing?.version ?? target.tombstones[id] ?? 0) + 1
        let seqNo = target.nextSeqNo
        target.nextSeqNo += 1
        target.documents[id] = Document(source: body!, version: version, seqNo: seqNo)
        target.tombstones[id] = nil
        if Self.refreshRequested(parameters) { target.refresh() }
        return (existing == nil ? 201 : 200, .object([
            "_index": .string(index), "_id": .string(id), "_version": .number(Double(version)),
            "result": .string(existing == nil ? "created" : "updated"), "_shards": Self.shards(),
            "_seq_no": .number(Double(seqNo)), "_primary_term": .number(1),
        ]))
    }

    private func get(_ indices: [String: Index], _ index: String, _ id: String) -> (Int, JSONValue) {
        guard let found = indices[index] else { return Self.indexNotFound(index) }
        guard let document = found.documents[id] else {
            return (404, .object(["_index": .string(index), "_id": .string(id), "found": .bool(false)]))
        }
        return (200, .object([
            "_index": .string(index), "_id": .string(id), "_version": .number(Double(document.version)),
            "_seq_no": .number(Double(document.seqNo)), "_primary_term": .number(1), "found": .bool(true),
            "_source": document.source,
        ]))
    }

    private func delete(_ indices: inout [String: Index], _ index: String, _ id: String, _ parameters: [String: String]) -> (Int, JSONValue) {
        guard var target = indices[index] else { return Self.indexNotFound(index) }
        defer { indices[index] = target }
        let seqNo = target.nextSeqNo
        target.nextSeqNo += 1
        if let ifSeqNo = parameters["if_seq_no"].flatMap(Int.init) {
            guard let current = target.documents[id], current.seqNo == ifSeqNo else {
                let detail = target.documents[id].map { "current document has seqNo [\($0.seqNo)] and primary term [1]" } ?? "but no document was found"
                return Self.error(409, "version_conflict_engine_exception",
                    "[\(id)]: version conflict, required seqNo [\(ifSeqNo)], primary term [1]. \(detail)",
                    extra: ["index_uuid": .string("fake-uuid"), "shard": .string("0"), "index": .string(index)])
            }
        }
        guard let existing = target.documents.removeValue(forKey: id) else {
            return (404, .object([
                "_index": .string(index), "_id": .string(id), "_version": .number(1), "result": .string("not_found"),
                "_shards": Self.shards(), "_seq_no": .number(Double(seqNo)), "_primary_term": .number(1),
            ]))
        }
        target.tombstones[id] = existing.version + 1
        if Self.refreshRequested(parameters) { target.refresh() }
        return (200, .object([
            "_index": .string(index), "_id": .string(id), "_version": .number(Double(existing.version + 1)),
            "result": .string("deleted"), "_shards": Self.shards(), "_seq_no": .number(Double(seqNo)), "_primary_term": .number(1),
        ]))
    }

    // MARK: Search

    private func matchingIndices(_ indices: [String: Index], _ pattern: String) -> [String] {
        pattern.split(separator: ",").flatMap { part -> [String] in
            let part = String(part)
            guard part.contains("*") else { return indices[part] != nil ? [part] : [] }
            let regex = "^" + NSRegularExpression.escapedPattern(for: part).replacingOccurrences(of: "\\*", with: ".*") + "$"
            return indices.keys.filter { $0.range(of: regex, options: .regularExpression) != nil }
        }.sorted()
    }

    /// The searchable documents of the indices `pattern` names, or a 404 for a missing concrete index.
    private func searchTargets(_ indices: [String: Index], _ pattern: String) -> Result<[(String, String, Document)], Failure> {
        for part in pattern.split(separator: ",") where !part.contains("*") && indices[String(part)] == nil {
            return .failure(Failure(response: Self.indexNotFound(String(part))))
        }
        return .success(matchingIndices(indices, pattern).flatMap { name in
            indices[name]!.searchable.map { (name, $0.key, $0.value) }
        })
    }

    struct Failure: Error {
        let response: (Int, JSONValue)
    }

    private static func values(_ source: JSONValue, _ field: String) -> [JSONValue] {
        var current: [JSONValue] = [source]
        for key in field.split(separator: ".") {
            current = current.flatMap { value -> [JSONValue] in
                switch value {
                case .object(let object): return object[String(key)].map { [$0] } ?? []
                case .array(let array): return array.compactMap { $0[String(key)] }
                default: return []
                }
            }
        }
        return current.flatMap { value -> [JSONValue] in
            if case .array(let array) = value { return array }
            return value == .null ? [] : [value]
        }
    }

    /// A date or number bound as a number: epoch millis, ISO-8601 or date math (rounded down
    /// for gte/lt, up for gt/lte).
    private func bound(_ value: JSONValue, roundingUp: Bool) throws -> Double {
        switch value {
        case .number(let number) where Double(number) != nil: return Double(number) ?? 0
        case .string(let text):
            if let number = Double(text) { return number }
            let date = try TimeExpression(parsing: text).resolve(now: now(), roundingUp: roundingUp)
            return (date.timeIntervalSince1970 * 1000).rounded()
        default: throw Failure(response: Self.error(400, "parsing_exception", "[range] query does not support [\(value)]"))
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let number): return Double(number)
        case .string(let text):
            if let number = Double(text) { return number }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return (date.timeIntervalSince1970 * 1000).rounded() }
            formatter.formatOptions = [.withInternetDateTime]
            return formatter.date(from: text).map { ($0.timeIntervalSince1970 * 1000).rounded() }
        default: return nil
        }
    }

    private func matches(_ query: JSONValue, _ source: JSONValue) throws -> Bool {
        guard case .object(let object) = query, object.count == 1, let (kind, clause) = object.first else {
            throw Failure(response: Self.error(400, "parsing_exception", "query malformed, must start with a single query name"))
        }
        switch kind {
        case "match_all": return true
        case "bool":
            func clauses(_ key: String) -> [JSONValue] {
                switch clause[key] {
                case .array(let array)?: return array
                case let single?: return [single]
                case nil: return []
                }
            }
            for required in clauses("filter") + clauses("must") where try !matches(required, source) { return false }
            for excluded in clauses("must_not") where try matches(excluded, source) { return false }
            let should = clauses("should")
            if !should.isEmpty, clauses("filter").isEmpty, clauses("must").isEmpty {
                return try should.contains { try matches($0, source) }
            }
            return true
        case "term":
            guard case .object(let term) = clause, let (field, spec) = term.first else { break }
            let wanted = spec["value"] ?? spec
            return Self.values(source, field).contains(wanted)
        case "terms":
            guard case .object(let terms) = clause, let (field, spec) = terms.first, case .array(let wanted) = spec else { break }
            return Self.values(source, field).contains { wanted.contains($0) }
        case "range":
            guard case .object(let range) = clause, let (field, spec) = range.first, case .object(let bounds) = spec else { break }
            let present = Self.values(source, field).compactMap(Self.number)
            return try present.contains { value in
                for (operator_, raw) in bounds {
                    switch operator_ {
                    case "gt": if !(value > (try bound(raw, roundingUp: true))) { return false }
                    case "gte": if !(value >= (try bound(raw, roundingUp: false))) { return false }
                    case "lt": if !(value < (try bound(raw, roundingUp: false))) { return false }
                    case "lte": if !(value <= (try bound(raw, roundingUp: true))) { return false }
                    case "format", "time_zone", "boost": continue
                    default: throw Failure(response: Self.error(400, "parsing_exception", "[range] query does not support [\(operator_)]"))
                    }
                }
                return true
            }
        default:
            throw Failure(response: Self.error(400, "parsing_exception", "unknown query [\(kind)]"))
        }
        throw Failure(response: Self.error(400, "parsing_exception", "[\(kind)] query malformed"))
    }

    private func filtered(_ indices: [String: Index], _ pattern: String, _ body: JSONValue) throws -> [(String, String, Document)] {
        let targets: [(String, String, Document)]
        switch searchTargets(indices, pattern) {
        case .success(let found): targets = found
        case .failure(let failure): throw failure
        }
        let query = body["query"] ?? .object(["match_all": .object([:])])
        return try targets.filter { try matches(query, $0.2.source) }
    }

    private func search(_ indices: inout [String: Index], _ pattern: String, _ body: JSONValue) -> (Int, JSONValue) {
        do {
            var hits = try filtered(indices, pattern, body)
            let from = Int(body["from"]?.doubleValue ?? 0)
            let size = Int(body["size"]?.doubleValue ?? 10)
            if from + size > Self.maxResultWindow {
                let reason = "Result window is too large, from + size must be less than or equal to: [\(Self.maxResultWindow)] but was [\(from + size)]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting."
                return Self.error(400, "search_phase_execution_exception", "all shards failed", extra: [
                    "phase": .string("query"), "caused_by": .object(["type": .string("illegal_argument_exception"), "reason": .string(reason)]),
                ], rootCause: ("illegal_argument_exception", reason))
            }
            // Sort: [{field: {order}}] or ["field"]; missing values last.
            var keys: [(String, Bool)] = []
            if case .array(let sorts)? = body["sort"] {
                for sort in sorts {
                    if case .string(let field) = sort { keys.append((field, false)) }
                    if case .object(let object) = sort, let (field, spec) = object.first {
                        let order = spec["order"]?.stringValue ?? spec.stringValue ?? "asc"
                        keys.append((field, order == "desc"))
                    }
                }
            }
            func key(_ document: Document, _ field: String) -> Double? {
                Self.values(document.source, field).compactMap(Self.number).first
            }
            /// A keyword sorts by its text (as Elasticsearch sorts keyword doc values).
            func text(_ document: Document, _ field: String) -> String? {
                Self.values(document.source, field).compactMap(\.stringValue).first
            }
            if !keys.isEmpty {
                hits.sort { a, b in
                    for (field, descending) in keys {
                        if let x = text(a.2, field), let y = text(b.2, field), key(a.2, field) == nil {
                            if x == y { continue }
                            return descending ? x > y : x < y
                        }
                        let (x, y) = (key(a.2, field), key(b.2, field))
                        if x == y { continue }
                        guard let x else { return false }
                        guard let y else { return true }
                        return descending ? x > y : x < y
                    }
                    return false
                }
            }
            var response: [String: JSONValue] = ["took": .number(1), "timed_out": .bool(false), "_shards": Self.shards(total: 1, successful: 1)]
            let page = hits.dropFirst(from).prefix(max(0, size)).map { hit -> JSONValue in
                var entry: [String: JSONValue] = [
                    "_index": .string(hit.0), "_id": .string(hit.1), "_source": hit.2.source,
                    "_score": keys.isEmpty ? .number(0) : .null,
                ]
                if !keys.isEmpty { entry["sort"] = .array(keys.map { key(hit.2, $0.0).map(JSONValue.number) ?? .null }) }
                return .object(entry)
            }
            var hitsObject: [String: JSONValue] = ["max_score": keys.isEmpty ? .number(0) : .null, "hits": .array(page)]
            switch body["track_total_hits"] {
            case .bool(false)?: break
            case .bool(true)?: hitsObject["total"] = .object(["value": .number(Double(hits.count)), "relation": .string("eq")])
            case let limit:
                let cap = Int(limit?.doubleValue ?? 10_000)
                hitsObject["total"] = .object([
                    "value": .number(Double(min(hits.count, cap))), "relation": .string(hits.count > cap ? "gte" : "eq"),
                ])
            }
            response["hits"] = .object(hitsObject)
            if case .object(let aggs)? = body["aggs"] ?? body["aggregations"] {
                var results: [String: JSONValue] = [:]
                for (name, spec) in aggs {
                    guard case .object(let object) = spec, let (kind, options) = object.first, let field = options["field"]?.stringValue else {
                        return Self.error(400, "parsing_exception", "Expected [START_OBJECT] under [\(name)]")
                    }
                    let numbers = hits.flatMap { Self.values($0.2.source, field).compactMap(\.doubleValue) }
                    let value: JSONValue
                    switch kind {
                    case "min": value = numbers.min().map(JSONValue.number) ?? .null
                    case "max": value = numbers.max().map(JSONValue.number) ?? .null
                    case "avg": value = numbers.isEmpty ? .null : .number(numbers.reduce(0, +) / Double(numbers.count))
                    case "sum": value = .number(numbers.reduce(0, +))
                    case "value_count": value = .number(Double(numbers.count))
                    default: return Self.error(400, "parsing_exception", "Unknown aggregation type [\(kind)] for aggregation [\(name)]")
                    }
                    results[name] = .object(["value": value])
                }
                response["aggregations"] = .object(results)
            }
            return (200, .object(response))
        } catch let failure as Failure {
            return failure.response
        } catch {
            return Self.error(400, "parsing_exception", "\(error)")
        }
    }

    private func count(_ indices: inout [String: Index], _ pattern: String, _ body: JSONValue) -> (Int, JSONValue) {
        do {
            let hits = try filtered(indices, pattern, body)
            return (200, .object(["count": .number(Double(hits.count)), "_shards": Self.shards(total: 1, successful: 1)]))
        } catch let failure as Failure {
            return failure.response
        } catch {
            return Self.error(400, "parsing_exception", "\(error)")
        }
    }

    private func deleteByQuery(
        _ indices: inout [String: Index], _ pattern: String, _ body: JSONValue, _ parameters: [String: String]
    ) -> (Int, JSONValue) {
        do {
            let hits = try filtered(indices, pattern, body)
            for (index, id, document) in hits {
                guard indices[index]?.documents[id] != nil else { continue }
                indices[index]?.documents[id] = nil
                indices[index]?.tombstones[id] = document.version + 1
                indices[index]?.nextSeqNo += 1
            }
            if parameters["refresh"] == "true" || parameters["refresh"] == "" {
                for name in matchingIndices(indices, pattern) { indices[name]?.refresh() }
            }
            return (200, .object([
                "took": .number(1), "timed_out": .bool(false), "total": .number(Double(hits.count)),
                "deleted": .number(Double(hits.count)), "batches": .number(1), "version_conflicts": .number(0),
                "noops": .number(0), "retries": .object(["bulk": .number(0), "search": .number(0)]),
                "throttled_millis": .number(0), "requests_per_second": .number(-1), "throttled_until_millis": .number(0),
                "failures": .array([]),
            ]))
        } catch let failure as Failure {
            return failure.response
        } catch {
            return Self.error(400, "parsing_exception", "\(error)")
        }
    }
}

