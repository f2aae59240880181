import Foundation
import Synchronization
import VampModel

/// Delivers appended events to live subscribers. Shared by every event store: registration is
/// synchronous, so an event appended after `subscribe` returns is never missed.
final class EventBroadcaster: Sendable {
    private struct Subscriber {
        let filter: EventFilter
        let continuation: AsyncStream<Event>.Continuation
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(0)

    func subscribe(_ filter: EventFilter) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Event.self, bufferingPolicy: .bufferingNewest(1000))
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = Subscriber(filter: filter, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ event: Event) {
        let targets = subscribers.withLock { $0.values.filter { $0.filter.matches(event) } }
        for target in targets { target.continuation.yield(event) }
    }

    deinit {
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.continuation.finish() }
    }
}
