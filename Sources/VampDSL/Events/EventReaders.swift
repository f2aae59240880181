import Foundation
public import VampModel

/// The body of an event query (`GET /api/v1/events` with a body): all `tags` (AND), an optional
/// `type`, time bounds and an optional aggregator (reference §5.2). Time bounds stay as written
/// (ISO-8601, epoch milliseconds or date math such as `now-1m`), because date math is resolved
/// when the query runs; the reader has checked their form.
public struct EventQueryRequest: Sendable, Hashable {
    /// Bounds on the event time; `gt` with `gte`, or `lt` with `lte`, is refused.
    public struct TimeBounds: Sendable, Hashable {
        /// Strictly before.
        public var lt: String?
        /// At or before.
        public var lte: String?
        /// Strictly after.
        public var gt: String?
        /// At or after.
        public var gte: String?

        /// Creates bounds.
        public init(lt: String? = nil, lte: String? = nil, gt: String? = nil, gte: String? = nil) {
            self.lt = lt
            self.lte = lte
            self.gt = gt
            self.gte = gte
        }
    }

    /// What to compute over the matching events (names as Vamp 0.9.5 wrote them).
    public enum Aggregator: String, Sendable, Hashable, CaseIterable {
        case min, max, average, sum, count
    }

    /// Tags every result carries.
    public var tags: [String]
    /// The type results have, or `nil` for any.
    public var type: String?
    /// Time bounds, or `nil` for any time.
    public var timestamp: TimeBounds?
    /// The aggregate to compute instead of listing events.
    public var aggregator: Aggregator?
    /// The field of the event value the aggregator reads (`nil`: the value itself).
    public var aggregatorField: String?

    /// Creates a query.
    public init(
        tags: [String], type: String? = nil, timestamp: TimeBounds? = nil, aggregator: Aggregator? = nil, aggregatorField: String? = nil
    ) {
        self.tags = tags
        self.type = type
        self.timestamp = timestamp
        self.aggregator = aggregator
        self.aggregatorField = aggregatorField
    }

    /// True for what an event store resolves as a time: ISO-8601 with an offset, epoch
    /// milliseconds, or Elasticsearch date math (`now`, `now-1m`, `now/d`,
    /// `2017-06-01T00:00:00Z||+1d`), also in Vamp 0.9.5's form with `now()` and spaces around
    /// the operators (`now() - 10m`).
    public static func isTimeExpression(_ text: String) -> Bool {
        let trimmed = text.trimmedSpaces
        var math: Substring
        if trimmed.hasPrefix("now") {
            math = Substring(trimmed).dropFirst(3)
            if math.hasPrefix("()") { math = math.dropFirst(2) }
        } else {
            let parts = trimmed.components(separatedBy: "||")
            guard parts.count <= 2 else { return false }
            let anchor = String(parts[0].trimmedSpaces)
            let isMillis = !anchor.isEmpty && anchor.allSatisfy { $0.isASCII && $0.isNumber }
            guard isMillis || ReadContext.parseTimestamp(anchor) != nil else { return false }
            math = parts.count == 2 ? Substring(parts[1]) : ""
        }
        let units: Set<Character> = ["y", "M", "w", "d", "h", "H", "m", "s"]
        let isSpace = { (character: Character) in character == " " || character == "\t" }
        while true {
            math = math.drop(while: isSpace)
            guard let sign = math.first else { break }
            math = math.dropFirst().drop(while: isSpace)
            switch sign {
            case "+", "-":
                math = math.drop { $0.isASCII && $0.isNumber }
                guard let unit = math.first, units.contains(unit) else { return false }
                math = math.dropFirst()
            case "/":
                guard let unit = math.first, units.contains(unit) else { return false }
                math = math.dropFirst()
            default:
                return false
            }
        }
        return true
    }
}

extension DSLReader {
    /// Reads the body of `POST /events`: one event, several documents, or a list of events
    /// (`kind` may be left out). Throws every reading and validation error: tags must not be
    /// empty, a timestamp must be ISO-8601 with an offset, a type must match `[A-Za-z0-9_-]+`.
    public static func events(_ text: String, limits: DSLLimits = DSLLimits()) throws(VampErrors) -> [Event] {
        try load(text, kind: .event, limits: limits).compactMap { document in
            if case .event(let event) = document.artifact { return event }
            return nil
        }
    }

    /// Reads the body of an event query (`GET /events` with a body). Throws every error: tags
    /// must be a list of text, `timestamp` takes `lt`, `lte`, `gt`, `gte` (not `gt` with `gte`
    /// or `lt` with `lte`) with times or date math, `aggregator` a `type` of min, max, average,
    /// sum or count and an optional `field`.
    public static func eventQuery(_ text: String, limits: DSLLimits = DSLLimits()) throws(VampErrors) -> EventQueryRequest {
        let items: [DSLNode]
        do { items = try roots(text, limits: limits) } catch { throw VampErrors([error]) }
        guard items.count == 1 else {
            throw VampErrors([VampError(.invalidValue, "an event query is one document; this input holds \(items.count)", kind: "event-query")])
        }
        let context = ReadContext(kind: "event-query", document: nil)
        let query = context.recover { try context.eventQuery(items[0]) }
        if let query, context.errors.isEmpty { return query }
        throw VampErrors(context.errors.sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) })
    }
}

extension ReadContext {
    func eventQuery(_ node: DSLNode) throws -> EventQueryRequest {
        let reader = try map(node, "")
        let tags = recover { () throws -> [String] in
            guard let tagsNode = try reader.take("tags") else {
                throw error(.missingField, "an event query needs tags (a list, which may be empty: tags: [])", path: "tags", mark: reader.mark)
            }
            return try listOrSingle(tagsNode, "tags").enumerated().map { index, item in
                let tag = try string(item, "tags[\(index)]")
                if tag.isEmpty { throw error(.invalidValue, "a tag may not be empty", path: "tags[\(index)]", at: item) }
                return tag
            }
        }
        var query = EventQueryRequest(tags: tags ?? [])
        if let typeNode = try reader.take("type") {
            query.type = recover { () throws -> String? in
                guard let type = try optionalString(typeNode, "type") else { return nil }
                if !Validation.isEventType(type) {
                    throw error(.invalidValue, "the event type '\(Self.short(type))' must match ^[\\w\\d\\-_]+$ (letters, digits, '_' and '-')", path: "type", at: typeNode)
                }
                return type
            } ?? nil
        }
        if let timestamp = try reader.take("timestamp"), !timestamp.isNull {
            query.timestamp = recover { try timeBounds(timestamp) }
        }
        if let aggregator = try reader.take("aggregator"), !aggregator.isNull {
            recover {
                let inner = try map(aggregator, "aggregator")
                let typeNode = try inner.require("type")
                let text = try string(typeNode, "aggregator.type")
                guard let type = EventQueryRequest.Aggregator(rawValue: text.lowercased()) else {
                    throw error(.invalidValue, "unsupported aggregator '\(Self.short(text))'; use one of min, max, average, sum, count", path: "aggregator.type", at: typeNode)
                }
                query.aggregator = type
                query.aggregatorField = try optionalString(try inner.take("field"), "aggregator.field")
                inner.finish()
            }
        }
        reader.ignore("kind")
        reader.finish()
        return query
    }

    func timeBounds(_ node: DSLNode) throws -> EventQueryRequest.TimeBounds {
        let reader = try map(node, "timestamp")
        func bound(_ key: String) -> String? {
            guard let value = try? reader.take(key) else { return nil }
            return recover { () throws -> String? in
                guard let text = try optionalString(value, "timestamp.\(key)") else { return nil }
                if !EventQueryRequest.isTimeExpression(text) {
                    throw error(.invalidValue, "'\(Self.short(text))' is not a time: use ISO-8601 with an offset (2017-06-01T12:00:00Z), epoch milliseconds or date math such as now-1m or now() - 10m", path: "timestamp.\(key)", at: value)
                }
                return text
            } ?? nil
        }
        let bounds = EventQueryRequest.TimeBounds(lt: bound("lt"), lte: bound("lte"), gt: bound("gt"), gte: bound("gte"))
        if reader.has("lt") && reader.has("lte") {
            errors.append(error(.invalidValue, "a time range takes lt or lte, not both", path: "timestamp.lte", at: node))
        }
        if reader.has("gt") && reader.has("gte") {
            errors.append(error(.invalidValue, "a time range takes gt or gte, not both", path: "timestamp.gte", at: node))
        }
        reader.finish()
        return bounds
    }
}
