import Foundation
import Persistence
import Testing
import VampModel

@Suite("PostgreSQL event delivery between servers")
struct PostgresNotificationTests {
    /// Store B (another server) relays what store A appends to B's subscribers, via NOTIFY.
    @Test func subscribersSeeOtherServersEvents() async throws {
        try await Backend.postgres.run { first, second in
            let relay = try #require(second.events as? PostgresStore)
            let subscription = second.events.subscribe(EventFilter(tags: ["deployments:sava"], type: "health"))
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await relay.receiveEventsFromOtherServers() }
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
}
