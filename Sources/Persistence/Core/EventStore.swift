public import Foundation
public import VampModel

/// Bounds on event time, each optional. `gt` with `gte`, or `lt` with `lte`, is an error.
public struct TimeRange: Sendable, Hashable {
    /// Strictly after.
    public var gt: TimeExpression?
    /// At or after.
    public var gte: TimeExpression?
    /// Strictly before.
    public var lt: TimeExpression?
    /// At or before.
    public var lte: TimeExpression?

    /// Creates a range; no bound means unbounded.
    public init(
        gt: TimeExpression? = nil, gte: TimeExpression? = nil, lt: TimeExpression? = nil, lte: TimeExpression? = nil
    ) {
        self.gt = gt
        self.gte = gte
        self.lt = lt
        self.lte = lte
    }

    /// The range in milliseconds, inclusive on both ends, for "now" = `now`.
    func resolved(now: Date) throws -> ResolvedRange {
        if gt != nil && gte != nil {
            throw PersistenceError(code: .invalidQuery, message: "a time range takes gt or gte, not both")
        }
        if lt != nil && lte != nil {
            throw PersistenceError(code: .invalidQuery, message: "a time range takes lt or lte, not both")
        }
        var range = ResolvedRange()
        if let gt { range.lower = Millis.from(gt.resolve(now: now, roundingUp: true)) + 1 }
        if let gte { range.lower = Millis.from(gte.resolve(now: now)) }
        if let lt { range.upper = Millis.from(lt.resolve(now: now)) - 1 }
        if let lte { range.upper = Millis.from(lte.resolve(now: now, roundingUp: true)) }
        return range
    }
}

/// A time range in whole milliseconds, both ends inclusive.
struct ResolvedRange: Hashable {
    var lower: Int64?
    var upper: Int64?

    func contains(_ millis: Int64) -> Bool {
        (lower.map { millis >= $0 } ?? true) && (upper.map { millis <= $0 } ?? true)
    }
}

/// Which events to return: all `tags` must be present (AND), the type must match when given,
/// and the timestamp must fall in `timestamp`.
public struct EventQuery: Sendable, Hashable {
    /// Tags every result carries (empty: any).
    public var tags: Set<String>
    /// The type results have, or `nil` for any.
    public var type: String?
    /// Time bounds.
    public var timestamp: TimeRange

    /// Creates a query.
    public init(tags: Set<String> = [], type: String? = nil, timestamp: TimeRange = TimeRange()) {
        self.tags = tags
        self.type = type
        self.timestamp = timestamp
    }

    func matches(_ event: Event, in range: ResolvedRange) -> Bool {
        tags.isSubset(of: event.tagSet) && (type.map { $0 == event.type } ?? true)
            && range.contains(Millis.from(event.timestamp))
    }
}

/// A number computed over the events a query matches.
public struct EventAggregation: Sendable, Hashable {
    /// What to compute.
    public enum Function: String, Sendable, Hashable, CaseIterable {
        case count, min, max, average, sum
    }

    /// What to compute.
    public var function: Function
    /// A dotted path of object keys in the event value (`"Tt"`, `"a.b"`); `nil` aggregates the
    /// value itself. Events whose value there is not a number are ignored (except by `count`).
    public var field: String?

    /// Creates an aggregation.
    public init(_ function: Function, field: String? = nil) {
        self.function = function
        self.field = field
    }

    /// Computes the aggregate over `values` (already the numbers at `field`) and a match count.
    func compute(numbers: [Double], matched: Int) -> Double? {
        switch function {
        case .count: return Double(matched)
        case .min: return numbers.min()
        case .max: return numbers.max()
        case .sum: return numbers.isEmpty ? nil : numbers.reduce(0, +)
        case .average: return numbers.isEmpty ? nil : numbers.reduce(0, +) / Double(numbers.count)
        }
    }
}

/// Which live events a subscriber wants: all `tags` (AND) and, when given, the type.
public struct EventFilter: Sendable, Hashable {
    /// Tags every delivered event carries (empty: any).
    public var tags: Set<String>
    /// The type delivered events have, or `nil` for any.
    public var type: String?

    /// Creates a filter.
    public init(tags: Set<String> = [], type: String? = nil) {
        self.tags = tags
        self.type = type
    }

    func matches(_ event: Event) -> Bool {
        tags.isSubset(of: event.tagSet) && (type.map { $0 == event.type } ?? true)
    }
}

/// Tagged, timestamped events with queries, aggregations, live subscriptions and retention.
public protocol EventStore: Sendable {
    /// Validates and stores an event, then delivers it to matching subscribers. Returns it as
    /// stored: tags expanded, id and timestamp filled in.
    @discardableResult
    func append(_ event: Event) async throws -> Event

    /// Matching events newest first (ties: last appended first), one page, with the total.
    func events(matching query: EventQuery, page: PageRequest) async throws -> Page<Event>

    /// The newest matching event, or `nil`. Cheaper than `events(matching:page:)` because it
    /// counts nothing.
    func latest(matching query: EventQuery) async throws -> Event?

    /// An aggregate over every matching event: `nil` when no event has a number to aggregate
    /// (`count` is never `nil`).
    func aggregate(_ aggregation: EventAggregation, matching query: EventQuery) async throws -> Double?

    /// Events appended to this store object from now on that pass `filter`, as they happen.
    /// Delivery is in-process: a subscriber sees what this store object appends. A slow
    /// subscriber keeps the newest 1000 undelivered events and loses older ones.
    func subscribe(_ filter: EventFilter) -> AsyncStream<Event>

    /// Deletes every event older than `cutoff`; returns how many went.
    @discardableResult
    func deleteEvents(before cutoff: Date) async throws -> Int
}

extension EventStore {
    /// The newest event with all of `tags` (and `type`, when given) no older than `window`:
    /// what Vamp's `/health` and `/metrics` endpoints peek at.
    public func latest(
        tags: Set<String>, type: String? = nil, within window: Duration, now: Date = Date()
    ) async throws -> Event? {
        let query = EventQuery(
            tags: tags, type: type,
            timestamp: TimeRange(gte: .date(now - Double(window.components.seconds)
                - Double(window.components.attoseconds) / 1e18)))
        return try await latest(matching: query)
    }

    /// The newest matching event: the first item of the first page.
    public func latest(matching query: EventQuery) async throws -> Event? {
        try await events(matching: query, page: PageRequest(page: 1, perPage: 1)).items.first
    }

    /// Retention: deletes events older than `maximumAge` before `now`.
    @discardableResult
    public func applyRetention(maximumAge: Duration, now: Date = Date()) async throws -> Int {
        let age = Double(maximumAge.components.seconds) + Double(maximumAge.components.attoseconds) / 1e18
        return try await deleteEvents(before: now - age)
    }
}
