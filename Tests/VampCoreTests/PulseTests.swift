import Foundation
import HAProxyConfigGen
import Testing
import VampCore
import VampModel
import VampPulse
import VampTesting

/// Pulse on the server: buckets from agents read by Vamp's names, and the events of Vamp 0.9.5's health, metrics and
/// allocation workflows, with their exact tags.
@Suite("Pulse: figures by name and the health, metrics and allocation events")
struct PulseTests {
    static let deployment = Deployment(name: "shop", clusters: [
        DeploymentCluster(name: "web", services: [
            GatewayPlanningTests.service("web:1.0", instances: [
                Instance(name: "web-1", host: "127.0.0.1", ports: ["port": 31001], deployed: true),
                Instance(name: "web-2", host: "127.0.0.1", ports: ["port": 31002], deployed: true),
            ]),
            GatewayPlanningTests.service("web:1.1", instances: [
                Instance(name: "canary-1", host: "127.0.0.1", ports: ["port": 31003], deployed: true),
                Instance(name: "canary-2", host: "127.0.0.1", ports: ["port": 31004], deployed: false),
            ]),
        ]),
    ])

    static func resolved() throws -> [Gateway] {
        let gateways = [
            Gateway(name: "shop/web/port", port: GatewayPort(number: 0), routes: [
                GatewayPlanningTests.route("shop/web/web:1.0/port", 80), GatewayPlanningTests.route("shop/web/web:1.1/port", 20),
            ]),
            Gateway(name: "shop/9050", port: GatewayPort(number: 9050), routes: [GatewayPlanningTests.route("shop/web/port", 100)]),
        ]
        var allocator = GatewayPortAllocator(range: 61000...61010)
        return try GatewayResolution.resolve(gateways, deployments: [deployment], allocator: &allocator, options: .init(defaultVirtualHosts: false))
    }

    /// A bucket as an agent would send it: `requests` through the route `service` of the cluster gateway, to instance
    /// `instance`, every `errorEvery`th a 503, times `time`.
    static func bucket(_ names: PulseNames, second: Int64, service: String, instance: String, requests: Int, errorEvery: Int = 0, time: Int = 20) throws -> PulseBucket {
        let gateway = try #require(names.frontend(gateway: "shop/web/port"))
        let route = try #require(names.frontend(gateway: "shop/web/port", route: "shop/web/\(service)/port"))
        let server = try #require(names.instances[route]?.first { $0.value == instance }?.key)
        // One agent per instance: an agent's second is sent once (a second bucket of the same agent and second is a
        // retry, and replaces the first).
        var aggregator = PulseAggregator(agent: "agent-\(instance)")
        for index in 0..<requests {
            let status = errorEvery > 0 && index % errorEvery == 0 ? 503 : 200
            aggregator.record(LogRecord(key: PulseKey(frontend: gateway, backend: "o_\(gateway)", server: route), totalTime: time + 1, status: status), at: second)
            aggregator.record(LogRecord(key: PulseKey(frontend: route, backend: route, server: server), totalTime: time, status: status), at: second)
        }
        return try #require(aggregator.close(before: second + 1).first)
    }

    @Test("figures by gateway, route, instance, service and cluster; lines of frontends nobody knows are counted, not shown")
    func figuresByName() async throws {
        let clock = TestClock()
        let pulse = Pulse(clock: clock)
        let names = PulseNames(try Self.resolved())
        await pulse.update(names: names)
        let now = Int64(clock.now.timeIntervalSince1970)
        await pulse.receive([
            try Self.bucket(names, second: now - 2, service: "web:1.0", instance: "web-1", requests: 40),
            try Self.bucket(names, second: now - 1, service: "web:1.0", instance: "web-2", requests: 40),
            try Self.bucket(names, second: now - 1, service: "web:1.1", instance: "canary-1", requests: 20, errorEvery: 4),
            PulseBucket(agent: "b", second: now - 1, entries: [.init(key: PulseKey(frontend: "unknown", backend: "x", server: "y"), figures: {
                var figures = PulseFigures()
                figures.record(LogRecord(key: PulseKey(frontend: "unknown", backend: "x", server: "y"), totalTime: 1))
                return figures
            }())]),
        ])
        let gateway = try #require(await pulse.figures(gateway: "shop/web/port", window: .seconds(60)))
        #expect(gateway.requests == 100)
        #expect(gateway.serverErrors == 5)
        let canary = try #require(await pulse.figures(gateway: "shop/web/port", route: "shop/web/web:1.1/port", window: .seconds(60)))
        #expect(canary.requests == 20)
        let instances = await pulse.instanceFigures(gateway: "shop/web/port", route: "shop/web/web:1.0/port", window: .seconds(60))
        #expect(instances.mapValues(\.requests) == ["web-1": 40, "web-2": 40])
        #expect(await pulse.figures(deployment: "shop", cluster: "web", service: "web:1.0", window: .seconds(60))?.requests == 80)
        #expect(await pulse.figures(deployment: "shop", cluster: "web", window: .seconds(60))?.requests == 100)
        #expect(await pulse.figures(deployment: "other", window: .seconds(60)) == nil)
        #expect(await pulse.figures(gateway: "shop/web/port", window: .seconds(1))?.requests == 60, "the last complete second only")
        #expect(await pulse.received.unknownRequests == 1)
        // Ten minutes later the figures are gone from a one-minute window.
        try await clock.advance(by: .seconds(600))
        #expect(await pulse.figures(gateway: "shop/web/port", window: .seconds(60))?.requests == 0)
    }

    @Test("events: Vamp 0.9.5's tags; health is the share without 5xx (0 under the floor), times the deployed share for a service")
    func events() async throws {
        let clock = TestClock()
        let pulse = Pulse(clock: clock)
        let names = PulseNames(try Self.resolved())
        await pulse.update(names: names)
        let now = Int64(clock.now.timeIntervalSince1970)
        await pulse.receive([
            try Self.bucket(names, second: now - 1, service: "web:1.0", instance: "web-1", requests: 80, time: 10),
            try Self.bucket(names, second: now - 1, service: "web:1.1", instance: "canary-1", requests: 20, errorEvery: 4, time: 30),
        ])
        let windows = await pulse.windows()
        let events = PulseEvents.make(
            gateways: windows.gateways, routes: windows.routes, deployments: [Self.deployment], metricsWindow: .seconds(10), healthFloor: 0, now: clock.now)
        func value(_ tags: Set<String>) -> Double? { events.first { Set($0.tags) == tags }?.value?.doubleValue }
        #expect(value(["gateways:shop/web/port", "gateway", "health"]) == 0.95)
        #expect(value(["gateways:shop/web/port", "gateway", "metrics:rate"]) == 10)
        #expect(value(["gateways:shop/web/port", "gateway", "metrics:responseTime"]) == 15)
        #expect(value(["gateways:shop/web/port", "routes:shop/web/web:1.1/port", "route", "health"]) == 0.75)
        #expect(value(["gateways:shop/web/port", "routes:shop/web/web:1.1/port", "route", "metrics:responseTime"]) == 30)
        #expect(value(["gateways:shop/9050", "gateway", "health"]) == 1, "no answers: healthy")
        #expect(events.contains { Set($0.tags) == ["gateways:shop/9050", "gateway", "metrics:rate"] })
        #expect(!events.contains { Set($0.tags) == ["gateways:shop/9050", "gateway", "metrics:responseTime"] }, "no mean of nothing")
        #expect(value(["deployments:shop", "clusters:web", "services:web:1.0", "service", "health"]) == 1)
        #expect(value(["deployments:shop", "clusters:web", "services:web:1.1", "service", "health"]) == 0.375, "0.75 × one of two instances deployed")
        #expect(value(["deployments:shop", "clusters:web", "cluster", "health"]) == 0.375)
        #expect(value(["deployments:shop", "deployment", "health"]) == 0.375)
        let allocation = try #require(events.first { $0.type == "allocation" })
        #expect(allocation.tags == ["deployments:shop", "allocation"])
        #expect(allocation.value?.value(atPath: "instances")?.doubleValue == 4)
        #expect(allocation.value?.value(atPath: "memory")?.doubleValue == 256)
        #expect(Set(events.map(\.type)) == ["health", "metrics", "allocation"])
        // The floor: a share under it reads 0; 1 is Vamp 0.9.5's rule (any 5xx is 0).
        let strict = PulseEvents.make(
            gateways: windows.gateways, routes: windows.routes, deployments: [], metricsWindow: .seconds(10), healthFloor: 1, now: clock.now)
        #expect(strict.first { Set($0.tags) == ["gateways:shop/web/port", "gateway", "health"] }?.value?.doubleValue == 0)
    }
}
