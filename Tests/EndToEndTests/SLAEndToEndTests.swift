import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// An SLA end to end: the built `vamp-server` with its embedded agent and real HAProxy, `sava` processes whose answers
/// turn slow when a file says so, traffic through the gateway, and the SLA monitor reading Pulse's figures. The
/// cluster is scaled up by `scale_instances` when slow, never beyond its maximum, and down again once fast, never
/// below its minimum, with the `sla:escalate` and `sla:deescalate` events in that order.
@Suite("End to end: an SLA scales a slow service on real traffic", .serialized)
struct SLAEndToEndTests {
    typealias E2E = CanaryReleaseTests

    static func blueprint(gateway: Int, delayFile: String) -> String {
        """
        name: slow
        gateways:
          \(gateway)/http: web/web
        clusters:
          web:
            sla:
              type: response_time_sliding_window
              threshold: {upper: 100, lower: 30}
              window: {interval: 3, cooldown: 2}
              escalations:
                - type: scale_instances
                  minimum: 1
                  maximum: 2
                  scale_by: 1
            services:
              - breed:
                  name: slow:1.0
                  deployable: {type: command, definition: "sava --text slow:1.0 --delay-file \(delayFile)"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 1}
        """
    }

    static func instances(_ client: HTTPClient, _ server: VampServerFixture) async throws -> Int? {
        let (status, body) = try await E2E.call(client, .GET, "\(server.api)/deployments/slow/clusters/web/services/slow:1.0/scale")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return object["instances"] as? Int
    }

    /// The SLA events of the cluster, oldest first: `escalate` or `deescalate`.
    static func slaEvents(_ client: HTTPClient, _ server: VampServerFixture) async throws -> [String] {
        let (_, body) = try await E2E.call(client, .GET, "\(server.api)/events?tag=sla&tag=deployment:slow&tag=cluster:web&per_page=30")
        let events = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]) ?? []
        return events.reversed().compactMap { event in
            let tags = event["tags"] as? [String] ?? []
            return tags.contains("sla:escalate") ? "escalate" : tags.contains("sla:deescalate") ? "deescalate" : nil
        }
    }

    @Test("slow: scaled 1 → 2 within interval + a period and held at the maximum; fast again: back to 1 and held at the minimum; events in order")
    func scalesOnResponseTime() async throws {
        let server = try await VampServerFixture.start(extraEnvironment: ["VAMP_OPERATION_SLA_PERIOD": "1", "VAMP_PULSE_PERIOD": "1"])
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let port = try FreePort.next()
        let delayFile = server.folder.url.appendingPathComponent("delay-ms").path
        try "0".write(toFile: delayFile, atomically: true, encoding: .utf8)
        let (created, body) = try await E2E.call(client, .POST, "\(server.api)/deployments", yaml: Self.blueprint(gateway: port, delayFile: delayFile))
        #expect(created == 202, "\(body)")
        try await E2E.eventually("slow:1.0 Done\n\(server.process.logTail())") { try await E2E.allDone(client, server, "slow", ["slow:1.0"]) }
        try await E2E.eventually("serving through the gateway") { try await E2E.get(client, "http://127.0.0.1:\(port)/").0 == 200 }
        let load = E2E.Load(client: client, port: port)

        // Fast: below the lower threshold, but already at the minimum: nothing changes.
        try await Task.sleep(for: .seconds(5))
        #expect(try await Self.instances(client, server) == 1)

        // Slow (150 ms, above the upper 100 ms): one more instance within the interval (3 s) and a period or two.
        try "150".write(toFile: delayFile, atomically: true, encoding: .utf8)
        let turnedSlow = ContinuousClock.now
        try await E2E.eventually("scaled to 2 instances\n\(server.process.logTail())", timeout: .seconds(30)) { try await Self.instances(client, server) == 2 }
        let reaction = ContinuousClock.now - turnedSlow
        print("e2e sla: slow to 2 instances asked: \(reaction)")
        // The window must fill with slow requests (interval, 3 s), a cooldown of an earlier de-escalation may still run
        // (interval + cooldown after it), the monitor looks every period (1 s), and figures arrive within 2 s.
        #expect(reaction < .seconds(3 + 2 + 1 + 2 + 1), "scaled up within the interval, a cooldown, a period and the figures' delivery: \(reaction)")
        try await E2E.eventually("the second instance Done") { try await E2E.allDone(client, server, "slow", ["slow:1.0"]) }
        // Still slow past another interval and cooldown: held at the maximum.
        try await Task.sleep(for: .seconds(8))
        #expect(try await Self.instances(client, server) == 2)

        // Fast again: back to one instance, and held there.
        try "0".write(toFile: delayFile, atomically: true, encoding: .utf8)
        try await E2E.eventually("scaled back to 1 instance\n\(server.process.logTail())", timeout: .seconds(30)) { try await Self.instances(client, server) == 1 }
        try await Task.sleep(for: .seconds(8))
        #expect(try await Self.instances(client, server) == 1)
        await load.stop()

        let events = try await Self.slaEvents(client, server)
        let firstEscalate = try #require(events.firstIndex(of: "escalate"), "\(events)")
        let lastEscalate = try #require(events.lastIndex(of: "escalate"))
        let firstDeescalateAfter = try #require(events[firstEscalate...].firstIndex(of: "deescalate"), "\(events)")
        #expect(lastEscalate < firstDeescalateAfter, "every escalation comes before the de-escalations that followed the fast again: \(events)")
        #expect(load.snapshot.failures.isEmpty, "no request failed while scaling: \(load.snapshot.failures.count) of \(load.snapshot.total): \(load.snapshot.failures.prefix(2))\n\(server.process.logTail())")
    }
}
