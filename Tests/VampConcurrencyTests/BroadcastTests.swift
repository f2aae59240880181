import Foundation
import Testing
import VampConcurrency
import VampTesting

@Suite("Broadcast")
struct BroadcastTests {
    @Test("every subscriber gets every element; a second subscriber does not take them from the first")
    func twoSubscribers() async {
        let broadcast = Broadcast<Int>(bufferingPolicy: .unbounded)
        let first = broadcast.subscribe()
        let second = broadcast.subscribe()
        for value in 1...5 { broadcast.yield(value) }
        broadcast.finish()
        var one: [Int] = [], two: [Int] = []
        for await value in first { one.append(value) }
        for await value in second { two.append(value) }
        #expect(one == [1, 2, 3, 4, 5])
        #expect(two == [1, 2, 3, 4, 5])
    }

    @Test("wakes coalesce per subscriber and the writer never waits for a slow one")
    func coalescing() async {
        let broadcast = Broadcast<Void>()
        let slow = broadcast.subscribe()
        for _ in 0..<10_000 { broadcast.signal() }
        broadcast.finish()
        var count = 0
        for await _ in slow { count += 1 }
        #expect(count == 1)
    }

    @Test("a subscriber that stops iterating is unsubscribed")
    func unsubscribe() async {
        let broadcast = Broadcast<Void>()
        do {
            let stream = broadcast.subscribe()
            #expect(broadcast.subscriberCount == 1)
            let task = Task { for await _ in stream {} }
            task.cancel()
            await task.value
        }
        #expect(broadcast.subscriberCount == 0)
    }

    @Test("a subscription after finish ends at once")
    func afterFinish() async {
        let broadcast = Broadcast<Int>()
        broadcast.finish()
        var count = 0
        for await _ in broadcast.subscribe() { count += 1 }
        #expect(count == 0)
    }
}

@Suite("TestClock")
struct TestClockTests {
    @Test("a sleeper wakes when the clock is advanced past its deadline, not before")
    func advance() async throws {
        let clock = TestClock()
        let start = clock.now
        let woke = Broadcast<Date>(bufferingPolicy: .unbounded)
        let events = woke.subscribe()
        let sleeper = Task {
            try await clock.sleep(for: .seconds(30))
            woke.yield(clock.now)
        }
        #expect(await clock.waitForSleepers(1))
        await clock.advance(by: .seconds(29))
        #expect(clock.sleeperCount == 1)
        await clock.advance(by: .seconds(1))
        try await sleeper.value
        var iterator = events.makeAsyncIterator()
        let at = await iterator.next()
        #expect(at == start.addingTimeInterval(30))
    }

    @Test("cancelling a sleeper ends its sleep with CancellationError")
    func cancel() async {
        let clock = TestClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(3600)) }
        #expect(await clock.waitForSleepers(1))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }
}
