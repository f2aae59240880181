import Foundation
public import Persistence
public import VampDSL
public import VampModel

/// What an event query answers: a page of events, newest first, or one number when it asked for an aggregate.
public enum EventQueryResult: Sendable {
    /// The matching events of the page asked for.
    case events(Page<Event>)
    /// The aggregate (`count` is never `nil`; the others are `nil` when no event has a number).
    case aggregate(Double?)
}

extension Vamp {
    // MARK: Events

    /// Stores the events (`POST /events`) and returns them as stored: group tags added (`a:b` adds `a`), ids and
    /// timestamps filled in. Each is delivered to the live subscribers that match it.
    public func publish(_ newEvents: [Event]) async throws(OperationError) -> [Event] {
        var problems: [String] = []
        for (index, event) in newEvents.enumerated() {
            if event.tags.isEmpty || event.tags.contains(where: \.isEmpty) {
                problems.append("event \(index + 1): tags must be a list of at least one non-empty tag")
            }
        }
        guard problems.isEmpty else { throw OperationError(.invalid, problems.joined(separator: "\n")) }
        var stored: [Event] = []
        for event in newEvents {
            stored.append(try await ArtifactRepository.timed("events") { try await self.events.append(event) })
        }
        return stored
    }

    /// Runs an event query (`GET /events` with parameters or a body): all tags (AND), an optional type, time
    /// bounds with date math resolved against the injected clock, newest first, or an aggregate.
    public func events(_ request: EventQueryRequest, page: PageRequest) async throws(OperationError) -> EventQueryResult {
        let query = try Self.query(request)
        if let aggregator = request.aggregator {
            let function: EventAggregation.Function = switch aggregator {
            case .min: .min
            case .max: .max
            case .average: .average
            case .sum: .sum
            case .count: .count
            }
            let aggregation = EventAggregation(function, field: request.aggregatorField)
            return .aggregate(try await ArtifactRepository.timed("events") { try await self.events.aggregate(aggregation, matching: query) })
        }
        return .events(try await ArtifactRepository.timed("events") { try await self.events.events(matching: query, page: page) })
    }

    /// Events published from now on that carry every tag of `filter` (and its type), as they happen.
    public nonisolated func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        events.subscribe(filter)
    }

    /// The value of the newest health event with all of `tags` within the health window (§1.12), or `nil`.
    public func health(_ tags: Set<String>) async throws(OperationError) -> JSONValue? {
        try await latestValue(tags.union(["health"]), within: configuration.healthWindow)
    }

    /// The value of the newest metrics event with all of `tags` within the metrics window (§1.12), or `nil`.
    public func metric(_ tags: Set<String>) async throws(OperationError) -> JSONValue? {
        try await latestValue(tags, within: configuration.metricsWindow)
    }

    func latestValue(_ tags: Set<String>, within window: Duration) async throws(OperationError) -> JSONValue? {
        let now = self.now
        let event = try await ArtifactRepository.timed("events") { try await self.events.latest(tags: tags, within: window, now: now) }
        guard let event else { return nil }
        return event.value ?? .null
    }

    static func query(_ request: EventQueryRequest) throws(OperationError) -> EventQuery {
        func time(_ text: String?, _ name: String) throws(OperationError) -> TimeExpression? {
            guard let text else { return nil }
            do {
                return try TimeExpression(parsing: text)
            } catch {
                throw OperationError(.invalid, "event query: timestamp.\(name) '\(text)' is not a time: \(error)", cause: error)
            }
        }
        let bounds = request.timestamp
        let range = TimeRange(
            gt: try time(bounds?.gt, "gt"), gte: try time(bounds?.gte, "gte"),
            lt: try time(bounds?.lt, "lt"), lte: try time(bounds?.lte, "lte"))
        return EventQuery(tags: Set(request.tags), type: request.type, timestamp: range)
    }
}

extension Vamp {
    // MARK: Reference views

    /// The stored artifact as `expand_references=true` shows it: references to stored artifacts replaced by them,
    /// two levels deep (a blueprint's breeds and those breeds' dependencies). Unknown references stay references.
    public func expandingReferences(_ artifact: Artifact) async throws(OperationError) -> Artifact {
        var result = artifact
        var fetched: [References.Key: Artifact] = [:]
        for _ in 0..<2 {
            let missing = References.needed(by: result).filter { fetched[$0] == nil }
            guard !missing.isEmpty else { break }
            for key in missing {
                if let stored = try await repository.read(key.kind, name: key.name), let value = try? repository.decode(stored) { fetched[key] = value }
            }
            result = References.expanded(result, with: fetched)
        }
        return result
    }
}
