import Foundation
import Persistence
import Testing
import VampModel

/// The same assertions for every ``EventStore`` implementation.
@Suite("EventStore conformance")
struct EventStoreConformanceTests {
    @Test("append expands tags, defaults type and time, keeps the value", arguments: Backend.eventStores)
    func append(backend: Backend) async throws {
        try await backend { stores in
            let before = Date()
            let value = JSONValue.object([
                "rate": .number(12.5), "ok": .bool(true), "name": .string("sava"), "list": .array([.null, .number(1)]),
            ])
            let event = try await stores.events.append(Event(tags: ["deployments:sava", "health"], value: value))
            #expect(event.tags == ["deployments", "deployments:sava", "health"])
            #expect(event.type == "event")
            #expect(event.timestamp.timeIntervalSince(before) > -0.01)
            #expect(event.timestamp.timeIntervalSince(before) < 60)
            #expect(event.id?.isEmpty == false)

            let found = try await stores.events.events(matching: EventQuery(tags: ["deployments"]), page: PageRequest())
            #expect(found.items == [event])
            #expect(found.total == 1)

            let plain = try await stores.events.append(Event(tags: ["x"], type: "metrics-2_b"))
            #expect(plain.value == nil)
            #expect(plain.type == "metrics-2_b")
        }
    }

    @Test("invalid events are refused", arguments: Backend.eventStores)
    func invalidEvents(backend: Backend) async throws {
        try await backend { stores in
            for event in [Event(tags: []), Event(tags: ["a"], type: "bad type"), Event(tags: ["a"], type: ""),
                          Event(tags: ["a"], type: "ünïcode"), Event(tags: [""])]
            {
                let error = await #expect(throws: PersistenceError.self) { try await stores.events.append(event) }
                #expect(error?.code == .invalidEvent)
            }
            let stored = try await stores.events.events(matching: EventQuery(), page: PageRequest())
            #expect(stored.total == 0)
        }
    }

    @Test("a second handle on the same database sees appended events", arguments: Backend.eventStores)
    func sharedDatabase(backend: Backend) async throws {
        try await backend.run { first, second in
            let appended = try await first.events.append(Event(tags: ["gateways:shop", "health"], value: .number(1)))
            let seen = try await second.events.latest(matching: EventQuery(tags: ["gateways:shop", "health"]))
            #expect(seen == appended)
            #expect(try await second.events.aggregate(EventAggregation(.sum), matching: EventQuery(tags: ["health"])) == 1)
        }
    }

    @Test("an id can be given once", arguments: Backend.eventStores)
    func duplicateID(backend: Backend) async throws {
        try await backend { stores in
            let first = try await stores.events.append(Event(id: "event-1", tags: ["d"], value: .number(1)))
            #expect(first.id == "event-1")
            let again = await #expect(throws: PersistenceError.self) {
                try await stores.events.append(Event(id: "event-1", tags: ["d"], value: .number(2)))
            }
            #expect(again?.code == .alreadyExists)
            #expect(again?.message.contains("event-1") == true)
            let stored = try await stores.events.events(matching: EventQuery(tags: ["d"]), page: PageRequest())
            #expect(stored.items.map(\.value) == [.number(1)])
        }
    }

    @Test("queries: all tags, type, newest first, paging with a total", arguments: Backend.eventStores)
    func queries(backend: Backend) async throws {
        try await backend { stores in
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            for index in 0..<10 {
                try await stores.events.append(
                    Event(
                        tags: index.isMultiple(of: 2) ? ["gateways:shop", "metrics:rate"] : ["gateways:shop", "health"],
                        value: .number(Double(index)), timestamp: base + Double(index),
                        type: index.isMultiple(of: 2) ? "metrics" : "health"))
            }
            let rates = try await stores.events.events(
                matching: EventQuery(tags: ["gateways:shop", "metrics:rate"]), page: PageRequest(page: 1, perPage: 2))
            #expect(rates.total == 5)
            #expect(rates.items.map(\.value) == [.number(8), .number(6)])
            let next = try await stores.events.events(
                matching: EventQuery(tags: ["gateways:shop", "metrics:rate"]), page: PageRequest(page: 3, perPage: 2))
            #expect(next.items.map(\.value) == [.number(0)])

            let all = try await stores.events.events(matching: EventQuery(tags: ["gateways"]), page: PageRequest())
            #expect(all.items.map(\.value) == (0..<10).reversed().map { .number(Double($0)) })

            let health = try await stores.events.events(
                matching: EventQuery(tags: ["gateways"], type: "health"), page: PageRequest())
            #expect(health.items.map(\.value) == [9, 7, 5, 3, 1].map { .number(Double($0)) })

            let none = try await stores.events.events(
                matching: EventQuery(tags: ["health", "metrics"]), page: PageRequest())
            #expect(none.total == 0 && none.items.isEmpty)
        }
    }

    @Test("equal timestamps: the later append comes first", arguments: Backend.eventStores)
    func ties(backend: Backend) async throws {
        try await backend { stores in
            let time = Date(timeIntervalSince1970: 1_700_000_000)
            for index in 0..<3 {
                try await stores.events.append(Event(tags: ["t"], value: .number(Double(index)), timestamp: time))
            }
            let found = try await stores.events.events(matching: EventQuery(tags: ["t"]), page: PageRequest())
            #expect(found.items.map(\.value) == [.number(2), .number(1), .number(0)])
        }
    }

    @Test("time ranges: gt, gte, lt, lte, date math", arguments: Backend.eventStores)
    func timeRanges(backend: Backend) async throws {
        try await backend { stores in
            let now = Date()
            let offsets: [Double] = [-7200, -600, -45, -10]  // 2 h, 10 min, 45 s, 10 s ago
            for offset in offsets {
                try await stores.events.append(Event(tags: ["r"], value: .number(offset), timestamp: now + offset))
            }
            func values(_ range: TimeRange) async throws -> [Double] {
                try await stores.events.events(matching: EventQuery(tags: ["r"], timestamp: range), page: PageRequest())
                    .items.compactMap { $0.value?.doubleValue }
            }
            #expect(try await values(TimeRange(gte: TimeExpression(parsing: "now-1m"))) == [-10, -45])
            #expect(try await values(TimeRange(gt: TimeExpression(parsing: "now-30s"))) == [-10])
            #expect(try await values(TimeRange(gte: TimeExpression(parsing: "now-1h"))) == [-10, -45, -600])
            #expect(try await values(TimeRange(lt: TimeExpression(parsing: "now-1m"))) == [-600, -7200])
            #expect(try await values(TimeRange(gte: .ago(.seconds(3 * 3600)), lte: TimeExpression(parsing: "now-1h")))
                == [-7200])
            #expect(try await values(TimeRange(gt: TimeExpression(parsing: "now"))).isEmpty)

            // Exact bounds on a stored timestamp: gte/lte include it, gt/lt do not.
            let exact = TimeExpression.date(now - 45)
            #expect(try await values(TimeRange(gte: exact, lte: exact)) == [-45])
            #expect(try await values(TimeRange(gt: exact, lte: .date(now))) == [-10])
            #expect(try await values(TimeRange(gte: .date(now - 600), lt: exact)) == [-600])

            // Rounded bounds follow Elasticsearch: gte/lt at the unit's start, gt/lte at its end.
            let day = try TimeExpression(parsing: "now/d")
            #expect(try await values(TimeRange(lte: day)).count == offsets.count)
            let beforeToday = offsets.filter { now + $0 < Self.startOfDay(now) }.count
            #expect(try await values(TimeRange(lt: day)).count == beforeToday)
            #expect(try await values(TimeRange(gt: day)).isEmpty)

            let both = await #expect(throws: PersistenceError.self) {
                try await values(TimeRange(lt: .now, lte: .now))
            }
            #expect(both?.code == .invalidQuery)
        }
    }

    static func startOfDay(_ date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.startOfDay(for: date)
    }

    @Test("aggregations over the value or a field", arguments: Backend.eventStores)
    func aggregations(backend: Backend) async throws {
        try await backend { stores in
            for tt in [10.0, 20.0, 60.0] {
                try await stores.events.append(Event(tags: ["log"], value: .object(["Tt": .number(tt), "ST": .number(200)])))
            }
            try await stores.events.append(Event(tags: ["log"], value: .object(["Tt": .string("n/a")])))
            try await stores.events.append(Event(tags: ["log"]))
            for value in [1.0, 0.0, 1.0] { try await stores.events.append(Event(tags: ["health"], value: .number(value))) }
            try await stores.events.append(Event(tags: ["health"], value: .string("unknown")))

            func aggregate(_ function: EventAggregation.Function, _ field: String?, _ tags: Set<String>) async throws -> Double? {
                try await stores.events.aggregate(EventAggregation(function, field: field), matching: EventQuery(tags: tags))
            }
            #expect(try await aggregate(.count, "Tt", ["log"]) == 5)
            #expect(try await aggregate(.min, "Tt", ["log"]) == 10)
            #expect(try await aggregate(.max, "Tt", ["log"]) == 60)
            #expect(try await aggregate(.sum, "Tt", ["log"]) == 90)
            #expect(try await aggregate(.average, "Tt", ["log"]) == 30)
            #expect(try await aggregate(.average, nil, ["health"]) == 2.0 / 3.0)
            #expect(try await aggregate(.count, nil, ["health"]) == 4)
            #expect(try await aggregate(.min, "missing", ["log"]) == nil)
            #expect(try await aggregate(.sum, nil, ["nothing"]) == nil)
            #expect(try await aggregate(.count, nil, ["nothing"]) == 0)
        }
    }

    @Test("aggregations read dotted paths", arguments: Backend.eventStores)
    func nestedField(backend: Backend) async throws {
        try await backend { stores in
            try await stores.events.append(Event(tags: ["n"], value: .object(["a": .object(["b": .number(4)])])))
            try await stores.events.append(Event(tags: ["n"], value: .object(["a": .object(["b": .number(8)])])))
            let average = try await stores.events.aggregate(
                EventAggregation(.average, field: "a.b"), matching: EventQuery(tags: ["n"]))
            #expect(average == 6)
        }
    }

    @Test("latest matching event within a window", arguments: Backend.eventStores)
    func latest(backend: Backend) async throws {
        try await backend { stores in
            let now = Date()
            try await stores.events.append(
                Event(tags: ["gateways:shop", "metrics:rate"], value: .number(1), timestamp: now - 100, type: "metrics"))
            try await stores.events.append(
                Event(tags: ["gateways:shop", "metrics:rate"], value: .number(2), timestamp: now - 20, type: "metrics"))
            try await stores.events.append(
                Event(tags: ["gateways:shop", "metrics:responseTime"], value: .number(3), timestamp: now - 1, type: "metrics"))
            let latest = try await stores.events.latest(
                tags: ["gateways:shop", "metrics:rate"], within: .seconds(30), now: now)
            #expect(latest?.value == .number(2))
            #expect(try await stores.events.latest(tags: ["gateways:shop", "metrics:rate"], within: .seconds(10), now: now) == nil)
            #expect(try await stores.events.latest(tags: ["gateways:other"], within: .seconds(300), now: now) == nil)
            #expect(try await stores.events.latest(tags: ["gateways:shop"], type: "health", within: .seconds(300), now: now) == nil)
        }
    }

    @Test("subscriptions get matching events as they are appended", arguments: Backend.eventStores)
    func subscriptions(backend: Backend) async throws {
        try await backend { stores in
            let health = stores.events.subscribe(EventFilter(tags: ["deployments:sava", "health"], type: "health"))
            let everything = stores.events.subscribe(EventFilter())
            try await stores.events.append(Event(tags: ["deployments:sava", "health"], value: .number(0), type: "event"))
            try await stores.events.append(Event(tags: ["deployments:other", "health"], value: .number(1), type: "health"))
            try await stores.events.append(Event(tags: ["deployments:sava", "health"], value: .number(2), type: "health"))

            var healthIterator = health.makeAsyncIterator()
            #expect(await healthIterator.next()?.value == .number(2))
            var all: [JSONValue?] = []
            for await event in everything {
                all.append(event.value)
                if all.count == 3 { break }
            }
            #expect(all == [.number(0), .number(1), .number(2)])
        }
    }

    @Test("retention deletes events older than the cutoff", arguments: Backend.eventStores)
    func retention(backend: Backend) async throws {
        try await backend { stores in
            let now = Date()
            for age: Double in [86_400 * 8, 86_400 * 3, 60, 1] {
                try await stores.events.append(Event(tags: ["old", "k:v"], value: .number(age), timestamp: now - age))
            }
            #expect(try await stores.events.applyRetention(maximumAge: .seconds(7 * 86_400), now: now) == 1)
            #expect(try await stores.events.deleteEvents(before: now - 3600) == 1)
            let left = try await stores.events.events(matching: EventQuery(tags: ["k:v"]), page: PageRequest())
            #expect(left.items.map(\.value) == [.number(1), .number(60)])
            #expect(left.total == 2)
        }
    }
}
