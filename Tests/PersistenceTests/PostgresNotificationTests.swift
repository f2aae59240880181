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
    /// change notices and its change feed (polling only every 60 s) through NOTIFY, within 100 ms.
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

                var noticeLatencies: [Duration] = []
                for round in 1...5 {
                    let started = ContinuousClock.now
                    let written = try await writer.save(kind: "breeds", name: "n", body: Data(json: "\(round)"))
                    try await within(.seconds(5), "the notice of write \(round)") { try await nextElement(of: notices) }
                    noticeLatencies.append(started.duration(to: .now))
                    #expect(try await listener.lastChangeSequence() == (try await writer.lastChangeSequence()))
                    #expect(written.version == Int64(round))
                }

                let feed = listener.followChanges(after: try await listener.lastChangeSequence(), pollInterval: .seconds(60))
                let (changes, delivered) = AsyncStream.makeStream(of: (ArtifactChange, ContinuousClock.Instant).self)
                group.addTask { for try await change in feed { delivered.yield((change, .now)) } }
                var feedLatencies: [Duration] = []
                for round in 1...5 {
                    let started = ContinuousClock.now
                    _ = try await writer.create(kind: "gateways", name: "g\(round)", body: Data(json: "{}"))
                    let (change, at) = try await within(.seconds(5), "the feed's change \(round)") { try await nextElement(of: changes) }
                    feedLatencies.append(started.duration(to: at))
                    #expect(change.name == "g\(round)")
                }

                print("cross-server latency, write to notice: \(noticeLatencies); write to feed: \(feedLatencies)")
                // The median must be far below a poll; every one below 1 s leaves room for a loaded test machine.
                for latencies in [noticeLatencies, feedLatencies] {
                    #expect(latencies.sorted()[latencies.count / 2] < .milliseconds(100), "\(latencies)")
                    #expect(latencies.allSatisfy { $0 < .seconds(1) }, "\(latencies)")
                }
            }
        }
    }
}
