import Synchronization

/// Wakes the watches of one ``FileKeyValueStore`` when a `set` or `delete` goes through the same
/// store, so they read at once instead of at their next poll.
///
/// A change number counts the writes. A watch notes it before it reads and then waits for a
/// different number (or its poll interval): a write that lands while the watch reads changes the
/// number, so the wait returns at once and the watch reads again; no update is lost between a
/// read and the wait. Shared by every copy of the store (it is a class held by the struct).
final class FileStoreChanges: Sendable {
    private struct State {
        var changeNumber: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// The number of writes so far; note it before reading, pass it to ``wait(after:timeout:)``.
    var changeNumber: UInt64 { state.withLock { $0.changeNumber } }

    /// Counts a write and wakes every waiting watch.
    func changed() {
        let waiters = state.withLock { state in
            state.changeNumber &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the change number is no longer `seen`, after `timeout`, or on cancellation,
    /// whichever comes first.
    func wait(after seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForChange(after: seen) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForChange(after seen: UInt64) async {
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // The cancellation flag is set before the handler runs: checked under the
                    // lock, a cancellation that came before this registration is not missed.
                    if state.changeNumber != seen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
