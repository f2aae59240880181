public import Foundation

/// The time of Vamp's decisions and waits, injected so that tests advance it instead of sleeping.
///
/// Planners take ``now`` as a value; services wait with ``sleep(for:)``. ``SystemClock`` is the real one;
/// `VampTesting`'s `TestClock` moves only when a test advances it.
public protocol VampClock: Sendable {
    /// The wall time now: timestamps of events and statuses, and the `now` a planner decides with.
    var now: Date { get }

    /// Suspends for `duration` of this clock's time; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The machine's clock: `Date()` and `Task.sleep`.
public struct SystemClock: VampClock {
    /// Creates the system clock.
    public init() {}

    public var now: Date { Date() }

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

extension VampClock where Self == SystemClock {
    /// The machine's clock.
    public static var system: SystemClock { SystemClock() }
}
