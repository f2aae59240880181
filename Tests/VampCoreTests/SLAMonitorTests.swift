import ContainerDrivers
import Foundation
import Logging
import Persistence
import Synchronization
import Testing
import VampConcurrency
import VampCore
import VampModel
import VampTesting

/// The SLA monitor's loop on the test clock, over in-memory stores, the reconciler and the real local-process driver
/// running `sava` processes: a cluster that turns slow is scaled up at the next period, not again within the cooldown,
/// down once fast, never past `maximum` or `minimum`, with its events in order.
@Suite("SLA monitor")
struct SLAMonitorTests {
    /// The response time every gateway reports, set by the test; the measurements asked for are recorded.
    final class Latency: Sendable {
        let state = Mutex<(value: Double?, asked: [String: Duration])>((nil, [:]))

        func set(_ value: Double?) { state.withLock { $0.value = value } }
        var asked: [String: Duration] { state.withLock { $0.asked } }

        func read(_ gateway: String, _ window: Duration) -> Double? {
            state.withLock { state in
                state.asked[gateway] = window
                return state.value
            }
        }
    }

    /// `sava`, built next to the test bundle.
    static var sava: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("sava").path
    }

    static let service = ServiceIdentity(deployment: "shop", cluster: "web", service: "web:1.0")

    /// One cluster of one `sava` at 1 instance, with an SLA of 100/20 ms over 10 s and a 20 s cooldown, scaling
    /// instances within 1...3.
    static func blueprint(sla: SLA) -> Blueprint {
        Blueprint(name: "shop", clusters: [Cluster(
            name: "web",
            services: [Service(
                breed: .inline(Breed(name: "web:1.0", deployable: Deployable(type: "command", definition: "'\(sava)' --text web"), ports: [BreedPort(name: "web", number: 8080)])),
                scale: .inline(Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: 1)))],
            sla: .inline(sla))])
    }

    static let scaling = ArtifactReference<Escalation>.inline(Escalation(definition: .scaleInstances(minimum: 1, maximum: 3, scaleBy: 1, target: nil)))
    static let window = SLA(definition: .responseTimeSlidingWindow(upper: 100, lower: 20, interval: 10, cooldown: 20), escalations: [scaling])

    static func scale(_ vamp: Vamp) async throws -> Int? {
        try await vamp.deployment(named: "shop")?.clusters.first?.services.first?.scale.instances
    }

    /// Reconciler passes (in real time: the processes start for real) until the service is `Done` with `instances` up.
    static func settle(_ vamp: Vamp, _ reconciler: Reconciler, instances: Int) async throws {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(60) {
            await reconciler.pass()
            let service = try await vamp.deployment(named: "shop")?.clusters.first?.services.first
            if service?.status.phase.name == .done, service?.instances.filter(\.deployed).count == instances { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the service did not reach \(instances) instances up within 60 s")
    }

    /// Every event, oldest first (ties in the order they were stored).
    static func allEvents(_ vamp: Vamp, tags: Set<String> = []) async throws -> [Event] {
        try await vamp.events.events(matching: EventQuery(tags: tags), page: PageRequest(page: 1, perPage: 10_000)).items.reversed()
    }

    @Test("slow: scaled up at the next period, not again within the cooldown, never past maximum; fast: down to minimum; events in order")
    func scalesWithTheResponseTime() async throws {
        let clock = TestClock()
        let start = clock.now
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-sla-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = LocalProcessDriver(directory: folder, logger: Logger(label: "test.driver"))
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(clock: clock))
        let reconciler = Reconciler(vamp: vamp, driver: driver)
        let latency = Latency()
        let monitor = SLAMonitor(vamp: vamp, configuration: .init(period: .seconds(5), responseTime: { latency.read($0, $1) }))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            group.addTask { try await monitor.run() }
            defer { group.cancelAll() }
            do {
                try await scenario()
            } catch {
                try? await driver.undeploy(Self.service)
                throw error
            }
            try? await driver.undeploy(Self.service)
        }

        /// Moves the clock one period and waits for the monitor's pass to end (it sleeps again).
        func period() async throws {
            await clock.advance(by: .seconds(5))
            #expect(await clock.waitForSleepers(1, timeout: .seconds(30)), "the monitor's pass ended")
        }

        func slaEvents() async throws -> [Event] { try await Self.allEvents(vamp, tags: ["sla"]) }

        func scenario() async throws {
            _ = try await vamp.deploy(.blueprint(Self.blueprint(sla: Self.window)))
            try await Self.settle(vamp, reconciler, instances: 1)
            #expect(await clock.waitForSleepers(1), "the monitor waits for its first period")

            // Fast enough, within the thresholds: nothing.
            latency.set(50)
            try await period()
            #expect(try await slaEvents().isEmpty)
            #expect(latency.asked == ["shop/web/web": .seconds(10)], "the cluster's gateway over the SLA's interval")

            // Slow: escalated at the next period, through the user's scale path (Initiated again, archive event).
            latency.set(500)
            try await period()
            #expect(try await slaEvents().count == 1)
            #expect(try await Self.scale(vamp) == 2)
            #expect(try await vamp.deployment(named: "shop")?.clusters.first?.services.first?.status.phase.name == .initiated)
            try await Self.settle(vamp, reconciler, instances: 2)
            #expect(try await driver.services().first { $0.id == Self.service }?.instances.count == 2, "the driver runs the new scale")

            // Still slow, but cooling down for interval + cooldown (30 s) after its event: 6 periods.
            for _ in 0..<6 {
                try await period()
                #expect(try await slaEvents().count == 1)
                #expect(try await Self.scale(vamp) == 2)
            }
            try await period()
            #expect(try await slaEvents().count == 2)
            #expect(try await Self.scale(vamp) == 3)
            try await Self.settle(vamp, reconciler, instances: 3)

            // At the maximum: the event is published (the SLA is broken), the scale stays.
            for _ in 0..<7 { try await period() }
            #expect(try await slaEvents().count == 3)
            #expect(try await Self.scale(vamp) == 3)

            // Fast: down one step per interval + cooldown, never below the minimum.
            latency.set(5)
            var scales: [Int] = []
            for _ in 0..<3 {
                for _ in 0..<7 { try await period() }
                scales.append(try await Self.scale(vamp) ?? 0)
                try await Self.settle(vamp, reconciler, instances: scales.last!)
            }
            #expect(scales == [2, 1, 1])

            // The SLA events in order, with the original's tags, each 35 s (a period past interval + cooldown) apart.
            let events = try await slaEvents()
            #expect(events.map { $0.tags.filter { $0.hasPrefix("sla:") } } == [
                ["sla:escalate"], ["sla:escalate"], ["sla:escalate"], ["sla:deescalate"], ["sla:deescalate"], ["sla:deescalate"],
            ])
            #expect(events.allSatisfy { Set($0.tags).isSuperset(of: ["sla", "deployment:shop", "cluster:web"]) })
            let seconds = events.map { Int($0.timestamp.timeIntervalSince(start)) }
            #expect(seconds == [10, 45, 80, 115, 150, 185])

            // Every scale change is archived right after the SLA event that made it, as a user's change is.
            let all = try await Self.allEvents(vamp)
            let archived = all.filter { $0.type == "archive" && $0.tags.contains("deployments:shop") && $0.timestamp > start }
            #expect(archived.map { Int($0.timestamp.timeIntervalSince(start)) } == [10, 45, 115, 150])
            for event in archived {
                let index = try #require(all.firstIndex(of: event))
                #expect(all[index - 1].tags.contains("sla"), "the SLA event comes just before its archive event")
            }
        }
    }

    @Test("escalation_only: an sla:escalate event posted by anyone scales the cluster at the next pass, once")
    func externalEvents() async throws {
        let clock = TestClock()
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(clock: clock))
        let monitor = SLAMonitor(vamp: vamp, configuration: .init(responseTime: { _, _ in
            Issue.record("escalation_only measures nothing")
            return nil
        }))
        _ = try await vamp.deploy(.blueprint(Self.blueprint(sla: SLA(definition: .escalationOnly, escalations: [Self.scaling]))))
        let t0 = clock.now
        await clock.advance(by: .seconds(1))
        // As `POST /api/v1/events` stores it: the singular tags; the group tags are added by the store.
        _ = try await vamp.publish([Event(tags: ["sla:escalate", "deployment:shop", "cluster:web"], timestamp: clock.now)])
        await clock.advance(by: .seconds(4))
        let report = await monitor.pass(escalationsAfter: t0)
        #expect(report.published.isEmpty)
        #expect(report.escalations.map(\.outcome.changes.count) == [1])
        #expect(try await Self.scale(vamp) == 2)
        // The next pass does not apply it again.
        await clock.advance(by: .seconds(5))
        let next = await monitor.pass(escalationsAfter: t0 + 5)
        #expect(next.escalations.isEmpty)
        #expect(try await Self.scale(vamp) == 2)

        // Events of a cluster or deployment that is not there change nothing and say so.
        _ = try await vamp.publish([Event(tags: ["sla:escalate", "deployment:shop", "cluster:api"], timestamp: clock.now)])
        await clock.advance(by: .seconds(5))
        let unknown = await monitor.pass(escalationsAfter: t0 + 5)
        #expect(unknown.escalations.first?.outcome.notes.first?.contains("no cluster 'api'") == true)
    }
}
