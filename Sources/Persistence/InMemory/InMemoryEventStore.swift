public import Foundation
public import VampModel

/// Events in memory: for tests and for `no-store`-like setups. Lost on exit.
public actor InMemoryEventStore: EventStore {
    /// Appended order; queries sort by time.
    private var stored: [Event] = []
    private var ids: Set<String> = []
    private let broadcaster = EventBroadcaster()
    private let now: @Sendable () -> Date

    /// Creates an empty store; `now` is the clock for default timestamps and date math.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    @discardableResult
    public func append(_ event: Event) throws -> Event {
        let prepared = try event.prepared()
        guard ids.insert(prepared.storedID).inserted else {
            throw PersistenceError.duplicateEvent(prepared.storedID)
        }
        stored.append(prepared)
        broadcaster.publish(prepared)
        return prepared
    }

    public func events(matching query: EventQuery, page: PageRequest) throws -> Page<Event> {
        let matched = try matching(query)
        return Page(items: Array(matched.dropFirst(page.offset).prefix(page.perPage)), total: matched.count, request: page)
    }

    public func aggregate(_ aggregation: EventAggregation, matching query: EventQuery) throws -> Double? {
        let matched = try matching(query)
        let numbers = matched.compactMap { $0.value?.value(atPath: aggregation.field)?.doubleValue }
        return aggregation.compute(numbers: numbers, matched: matched.count)
    }

    public nonisolated func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        broadcaster.subscribe(filter)
    }

    @discardableResult
    public func deleteEvents(before cutoff: Date) -> Int {
        let limit = Millis.from(cutoff)
        let before = stored.count
        stored.removeAll { Millis.from($0.timestamp) < limit }
        ids = Set(stored.map(\.storedID))
        return before - stored.count
    }

    /// Newest first; among equal timestamps the later append first.
    private func matching(_ query: EventQuery) throws -> [Event] {
        let range = try query.timestamp.resolved(now: now())
        return stored.enumerated()
            .filter { query.matches($0.element, in: range) }
            .sorted { ($0.element.timestamp, $0.offset) > ($1.element.timestamp, $1.offset) }
            .map(\.element)
    }
}
