import Foundation
import Persistence
import Testing
import VampModel

@Suite("PostgreSQL notifications between servers")
struct PostgresNotificationTests {
    /// Store B (another server) relays what store A appends to B's subscribers, via NOTIFY.
    @Test func subscribersSeeOtherServersEvents() async throws {
        try await Backend.postgres.run { first, second in
            let relay = try #require(second.events as? PostgresStore)
            let subscription = second.events.subscribe(EventFilter(tags: ["deployments:sava"], type: "health"))
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await relay.receiveNotificationsFromOtherServers() }
                // LISTEN starts asynchronously: append until the first delivery (a non-matching
                // event in between must not come through).
                group.addTask {
                    for step in 0..<200 {
                        try await first.events.append(Event(tags: ["deployments:other"], type: "health"))
                        try await first.events.append(
                            Event(tags: ["deployments:sava"], value: .number(Double(step)), type: "health"))
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                var iterator = subscription.makeAsyncIterator()
                let delivered = await iterator.next()
                group.cancelAll()
                #expect(delivered?.tags == ["deployments", "deployments:sava"])
                #expect(delivered?.value?.doubleValue != nil)
            }
        }
    }

    /// Two stores on two clients, as two servers sharing a database: a write through the first wakes the second's
    /// change notices and its change feed (polling only every 60 s) through NOTIFY, within 100 ms of the commit.
    @Test func otherServersWritesWakeNoticesAndFeed() async throws {
        try await Backend.postgres.run { first, second in
            let writer = first.artifacts
            let listener = try #require(second.artifacts as? PostgresStore)
            let notices = listener.changeNotices()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.receiveNotificationsFromOtherServers() }
                defer { group.cancelAll() }
                // Its first notice says the relay listens.
                try await within(.seconds(10), "the relay's first notice") { try await nextElement(of: notices) }

                var noticeTimes: [WakeTime] = []
                for round in 1...5 {
                    // Waiting before the write starts, so the time taken is the notice's arrival.
                    async let noticed = within(.seconds(5), "the notice of write \(round)") {
                        try await nextElement(of: notices)
                        return ContinuousClock.now
                    }
                    let started = ContinuousClock.now
                    let written = try await writer.save(kind: "breeds", name: "n", body: Data(json: "\(round)"))
                    noticeTimes.append(WakeTime(started: started, committed: .now, woken: try await noticed))
                    #expect(written.version == Int64(round))
                    #expect(try await listener.lastChangeSequence() == (try await writer.lastChangeSequence()))
                }

                let feed = listener.followChanges(after: try await listener.lastChangeSequence(), pollInterval: .seconds(60))
                let (changes, delivered) = AsyncStream.makeStream(of: (ArtifactChange, ContinuousClock.Instant).self)
                group.addTask { for try await change in feed { delivered.yield((change, .now)) } }
                var feedTimes: [WakeTime] = []
                for round in 1...5 {
                    let started = ContinuousClock.now
                    _ = try await writer.create(kind: "gateways", name: "g\(round)", body: Data(json: "{}"))
                    let committed = ContinuousClock.now
                    let (change, woken) = try await within(.seconds(5), "the feed's change \(round)") {
                        try await nextElement(of: changes)
                    }
                    feedTimes.append(WakeTime(started: started, committed: committed, woken: woken))
                    #expect(change.name == "g\(round)")
                }

                print("cross-server wake-up, write start to notice: \(noticeTimes.map(\.total)), after the commit returned: "
                    + "\(noticeTimes.map(\.afterCommit)); write start to feed: \(feedTimes.map(\.total)), after the commit "
                    + "returned: \(feedTimes.map(\.afterCommit))")
                // Alone on the 2-core build machine every wake-up comes below 1 ms after the commit; with the whole
                // suite running in parallel a single one can take 100 ms or more. So: the median within 100 ms, and
                // every one within 1 s of the write's start (its commit's fsync included), far below the 60 s poll.
                for times in [noticeTimes, feedTimes] {
                    #expect(times.map(\.afterCommit).sorted()[times.count / 2] < .milliseconds(100), "\(times)")
                    for time in times { #expect(time.total < .seconds(1), "\(time)") }
                }
            }
        }
    }
}

/// When a write started and returned, and when another server woke.
struct WakeTime: CustomStringConvertible {
    var started: ContinuousClock.Instant
    var committed: ContinuousClock.Instant
    var woken: ContinuousClock.Instant

    /// From the start of the write to the wake-up.
    var total: Duration { started.duration(to: woken) }
    /// From the write's return to the wake-up; zero when the other server woke before the write returned.
    var afterCommit: Duration { max(.zero, committed.duration(to: woken)) }

    var description: String { "\(total) from the write's start, \(afterCommit) after its return" }
}
