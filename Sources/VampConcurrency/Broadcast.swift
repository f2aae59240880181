import Synchronization

/// Delivers every element yielded to any number of subscribers, each with its own buffer.
///
/// An `AsyncStream` has one consumer: a second `for await` over the same stream is a runtime trap. A `Broadcast`
/// hands each subscriber a stream of its own, so any number of parts can wake on one source. The writer never
/// waits: a subscriber that is behind loses what its buffer policy drops (with `.bufferingNewest(1)`, the
/// default, a burst of wakes coalesces into one). Registration is synchronous: an element yielded after
/// ``subscribe(bufferingPolicy:)`` returns reaches that subscriber.
public final class Broadcast<Element: Sendable>: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<Element>.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())
    private let defaultPolicy: AsyncStream<Element>.Continuation.BufferingPolicy

    /// Creates a broadcast whose subscribers buffer by `bufferingPolicy` unless they ask for another.
    public init(bufferingPolicy: AsyncStream<Element>.Continuation.BufferingPolicy = .bufferingNewest(1)) {
        self.defaultPolicy = bufferingPolicy
    }

    /// A stream of the elements yielded from now on. It ends when the broadcast finishes; cancelling its
    /// iteration (or dropping it) unsubscribes.
    public func subscribe(bufferingPolicy: AsyncStream<Element>.Continuation.BufferingPolicy? = nil) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: bufferingPolicy ?? defaultPolicy)
        let id: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Hands `element` to every subscriber's buffer; never waits.
    public func yield(_ element: Element) {
        let targets = state.withLock { Array($0.subscribers.values) }
        for target in targets { target.yield(element) }
    }

    /// Ends every subscriber's stream; later subscribers get a stream that has ended.
    public func finish() {
        let targets = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for target in targets { target.finish() }
    }

    /// How many subscribers are registered now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    deinit {
        for target in state.withLock({ Array($0.subscribers.values) }) { target.finish() }
    }
}

extension Broadcast where Element == Void {
    /// Wakes every subscriber.
    public func signal() { yield(()) }
}
