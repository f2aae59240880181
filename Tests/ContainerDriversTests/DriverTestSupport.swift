import ContainerDrivers
import Foundation
import ServiceLifecycle

/// Runs `driver`'s `run()` beside `body`, as a server's `ServiceGroup` would, and stops it when `body` returns or
/// throws: `run()` is cancelled and awaited, so the driver's background work has ended when this returns.
func withRunning<Driver: ContainerDriver, Result>(
    _ driver: Driver, _ body: (Driver) async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await driver.run() }
        do {
            let result = try await body(driver)
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// Counts the notices of one subscription to a driver's change notices.
actor NoticeCounter {
    private(set) var count = 0
    /// True once the subscription's stream ended.
    private(set) var ended = false

    func tick() { count += 1 }
    func end() { ended = true }
}

/// Subscribes to `driver`'s change notices now and counts them while `body` runs.
func countingNotices<Result>(
    of driver: some ContainerDriver, _ body: (NoticeCounter) async throws -> Result
) async throws -> Result {
    let counter = NoticeCounter()
    let notices = driver.changeNotices()
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask {
            for await _ in notices { await counter.tick() }
            await counter.end()
        }
        defer { group.cancelAll() }
        return try await body(counter)
    }
}
