public import Foundation
import Synchronization
public import VampConcurrency

/// A clock that moves only when a test advances it: services and planners given this clock wait for
/// ``advance(by:)`` instead of real time, so a test of a timeout or a schedule takes no time and cannot be flaky.
///
/// ``sleep(for:)`` registers a sleeper with its deadline; ``advance(by:)`` moves ``now`` and wakes, in deadline
/// order, every sleeper whose deadline has come. ``waitForSleepers(_:timeout:)`` lets a test wait until the code under
/// test has reached its wait before it advances the clock.
public final class TestClock: VampClock {
    private struct Sleeper {
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>

    /// Creates a clock that reads `start` until it is advanced.
    public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: start))
    }

    public var now: Date { state.withLock { $0.now } }

    /// How many tasks are waiting in ``sleep(for:)`` now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    let deadline = state.now.addingTimeInterval(duration.timeInterval)
                    if deadline <= state.now { return true }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward by `duration`, waking every sleeper whose deadline comes on the way (earliest
    /// first), and gives the woken tasks a moment to run.
    public func advance(by duration: Duration) async {
        let target = state.withLock { $0.now.addingTimeInterval(duration.timeInterval) }
        while true {
            let due: (UInt64, Sleeper)? = state.withLock { state in
                guard let next = state.sleepers.min(by: { $0.value.deadline < $1.value.deadline }), next.value.deadline <= target else {
                    state.now = max(state.now, target)
                    return nil
                }
                state.now = max(state.now, next.value.deadline)
                state.sleepers[next.key] = nil
                return (next.key, next.value)
            }
            guard let (_, sleeper) = due else { break }
            sleeper.continuation.resume()
            await Self.settle()
        }
        await Self.settle()
    }

    /// Waits (in real time, up to `timeout`) until at least `count` tasks sleep on this clock; false on timeout.
    @discardableResult
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(10)) async -> Bool {
        let start = ContinuousClock.now
        while sleeperCount < count {
            if ContinuousClock.now - start > timeout { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    /// Lets tasks that were just resumed run up to their next suspension.
    private static func settle() async {
        for _ in 0..<20 { await Task.yield() }
    }
}

extension Duration {
    /// The duration in seconds, sub-seconds included.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
