import AsyncHTTPClient
import Foundation
import KVStores
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// What issue 23 found by killing `vamp-server` while it was written to, run as a test: a stable deployment serves
/// through its gateway under a steady load while a writer changes other deployments and gateways, and the server is
/// killed with SIGKILL at random moments and started again. The untouched gateway must fail no request, every
/// acknowledged write must be there, and the KV text, HAProxy's configuration and the stored gateways must agree
/// within 5 s of the last restart, with one HAProxy master and no process orphaned or doubled. The same run without
/// kills, and without writes, are its baselines (they must hold too, and say what the kills add).
@Suite("Traffic never stops: SIGKILL during writes", .serialized)
struct ConvergenceTests {
    typealias Server = VampServerFixture

    struct Run {
        var kills: Int
        var writes: Bool
        var seed: UInt64
        /// How long the traffic runs when nothing is killed.
        var duration: Duration = .seconds(6)
    }

    @Test("baseline: no writes, no kills: the stable gateway fails no request")
    func baseline() async throws {
        try await chaos(Run(kills: 0, writes: false, seed: 1))
    }

    @Test("writes without kills: the untouched gateway fails no request; everything acknowledged is there")
    func writesOnly() async throws {
        try await chaos(Run(kills: 0, writes: true, seed: 2))
    }

    @Test("SIGKILL at random moments (at least 20, some 0.5 s apart) during writes: 0 failed requests on the untouched gateway, acknowledged writes kept, agreement within 5 s, one HAProxy master, no orphaned or doubled process")
    func killsDuringWrites() async throws {
        let seed = ProcessInfo.processInfo.environment["VAMP_CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...1_000_000)
        try await chaos(Run(kills: 20, writes: true, seed: seed))
    }

    @Test("a service whose processes are adopted after SIGKILL stays in its gateway: the KV text never loses its internal gateway, its instances stay deployed")
    func adoptedServiceStaysServed() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let port = try FreePort.next()
        _ = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/deployments", yaml: Self.stable(port: port))
        try await CanaryReleaseTests.eventually("stable Done and serving") {
            let done = try await CanaryReleaseTests.allDone(client, server, "stable", ["stable-sava:1.0"])
            guard done else { return false }
            return try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/") == (200, "stable:1.0")
        }
        let store = try FileKeyValueStore(root: server.folder.url.appendingPathComponent(".vamp/kv"))
        let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")
        let load = CanaryReleaseTests.Load(client: client, port: port)
        var missing: [String] = []
        for restart in 0..<4 {
            try await server.restart(signal: SIGKILL, log: "server-\(restart + 2).log", waitingForAPI: false)
            let watched = ContinuousClock.now
            while ContinuousClock.now - watched < .seconds(3) {
                let text = try await store.get(key).map { String(decoding: $0.value, as: UTF8.self) } ?? ""
                if !text.contains("# gateway stable/web/web ") { missing.append("restart \(restart + 1), after \(ContinuousClock.now - watched)") }
                if let (status, body) = try? await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/stable"), status == 200,
                   body.contains("\"deployed\":false") {
                    missing.append("restart \(restart + 1): an instance reads deployed: false")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        await load.stop()
        #expect(missing.isEmpty, "\(missing.prefix(5))")
        #expect(load.snapshot.failures.isEmpty, "\(load.snapshot.failures.prefix(5))")
        #expect(FolderProcesses.sava(of: server.folder) == ["stable:1.0": 2], "adopted, not started again")
    }

    func chaos(_ run: Run) async throws {
        print("chaos: seed \(run.seed) (VAMP_CHAOS_SEED=\(run.seed) runs it again), \(run.kills) kills, writes \(run.writes)")
        let server = try await Server.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let stablePort = try FreePort.next()
        let (created, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/deployments", yaml: Self.stable(port: stablePort))
        #expect(created == 202, "\(body)")
        try await CanaryReleaseTests.eventually("the stable deployment serves\n\(server.process.logTail())") {
            try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(stablePort)/") == (200, "stable:1.0")
        }

        let load = CanaryReleaseTests.Load(client: client, port: stablePort)
        let writer = run.writes ? ChaosWriter(api: server.api, gatewayPorts: try (0..<3).map { _ in try FreePort.next() }, seed: run.seed) : nil
        var random = SeededRandom(seed: run.seed &+ 7)
        if run.kills == 0 {
            try await Task.sleep(for: run.duration)
        } else {
            try await Task.sleep(for: .seconds(1))
            for kill in 0..<run.kills {
                // Every third kill lands 0.5 s after the previous start, before the server has settled (or even
                // answers); the others wait for the API and a moment of writes.
                let quick = kill % 3 == 1
                try await server.restart(signal: SIGKILL, log: "server-\(kill + 2).log", waitingForAPI: !quick)
                try await Task.sleep(for: quick ? .milliseconds(500) : .milliseconds(Int.random(in: 300...1200, using: &random)))
            }
            try await server.waitUntilServing()
        }
        await writer?.stop()
        // The load goes on while the server converges: the untouched gateway must not fail then either.
        let agreed = try await CanaryReleaseTests.eventually("the KV text, HAProxy's file and the stored gateways agree, one HAProxy master", timeout: .seconds(5)) {
            try await Self.agreement(server, client) == nil
        }
        print("chaos: agreement \(agreed) after the last start")
        try await Task.sleep(for: .milliseconds(500))
        await load.stop()
        let counts = load.snapshot
        print("chaos: \(counts.total) requests on the untouched gateway, \(counts.failures.count) failed")
        #expect(counts.failures.isEmpty, "the untouched gateway failed: \(counts.failures.prefix(5))\n\(server.process.logTail())")
        #expect(counts.total > 100)

        if let writer {
            let state = writer.snapshot
            print("chaos: \(state.acknowledged) writes acknowledged, \(state.refused) refused, \(state.unanswered) unanswered")
            #expect(state.serverErrors.isEmpty, "no 5xx: \(state.serverErrors.prefix(3))")
            #expect(state.acknowledged > 10)
            try await Self.expectPromisesKept(state, server, client)
            try await Self.expectOneView(server, client)
        }
        try await Self.expectProcessesMatch(server, client)
    }

    static func stable(port: Int) -> String {
        """
        name: stable
        gateways:
          \(port)/http: web/web
        clusters:
          web:
            services:
              - breed:
                  name: stable-sava:1.0
                  deployable: {type: command, definition: "sava --text stable:1.0"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """
    }

    // MARK: Agreement

    /// Why the parts do not agree yet, or nil when they do: the KV text is the server's rendering of the stored
    /// gateways, HAProxy's configuration file ends with it and the agent applied it, and one master serves.
    static func agreement(_ server: Server, _ client: HTTPClient) async throws -> String? {
        let (status, rendered) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/vga/haproxy/2.6/configuration")
        guard status == 200 else { return "GET /vga/haproxy/2.6/configuration: \(status)" }
        let store = try FileKeyValueStore(root: server.folder.url.appendingPathComponent(".vamp/kv"))
        let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")
        let kv = try await store.get(key).map { String(decoding: $0.value, as: UTF8.self) } ?? ""
        guard kv == rendered else { return "the KV text is not the rendering of the stored gateways" }
        let file = (try? String(contentsOf: server.folder.url.appendingPathComponent(".vamp/gateway-agent/haproxy.cfg"), encoding: .utf8)) ?? ""
        guard file.hasSuffix(kv.hasSuffix("\n") ? kv : kv + "\n") else { return "haproxy.cfg does not end with the KV text" }
        let (_, info) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/info?on=gateway_agent")
        guard info.contains("\"configuration\":\"applied\"") else { return "the agent has not applied it: \(info)" }
        let masters = FolderProcesses.masters(of: server.folder)
        guard masters.count == 1 else { return "\(masters.count) HAProxy masters: \(masters)" }
        return nil
    }

    // MARK: Acknowledged writes

    static func expectPromisesKept(_ state: ChaosWriter.State, _ server: Server, _ client: HTTPClient) async throws {
        for (key, promise) in state.promises.sorted(by: { $0.key < $1.key }) where !state.uncertain.contains(key) {
            let name = String(key.split(separator: " ")[1])
            switch promise {
            case .service(let breed):
                let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/\(name)")
                #expect(status == 200 && body.contains("\"\(breed)\""), "\(key): acknowledged \(breed), read \(status) \(body.prefix(300))")
            case .deploymentGone:
                try await CanaryReleaseTests.eventually("\(key) is undeployed and gone", timeout: .seconds(20)) {
                    try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/\(name)").0 == 404
                }
            case .weights(let weights):
                let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/gateways/\(name)/web/web")
                let routes = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["routes"] as? [String: Any]
                let read = routes?.compactMapValues { (($0 as? [String: Any])?["weight"] as? String).flatMap { Int($0.dropLast()) } }
                #expect(status == 200 && read == weights, "\(key): acknowledged weights \(weights), read \(status) \(read ?? [:])")
            case .gateway(let port):
                let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/gateways/\(name)")
                #expect(status == 200 && body.contains("\"\(port)/http\""), "\(key): acknowledged port \(port), read \(status) \(body.prefix(200))")
            case .gatewayGone:
                #expect(try await CanaryReleaseTests.call(client, .GET, "\(server.api)/gateways/\(name)").0 == 404, "\(key): acknowledged delete")
            }
        }
    }

    // MARK: One view

    /// A deployment and its cluster gateway are one transaction: the weights the deployment shows for its services are
    /// the ones its internal gateway `d/web/web` routes with (found after killed merges: 1.0 alone in the deployment
    /// while the gateway routed to 1.1, and 100/0 in one against 75/25 in the other).
    static func expectOneView(_ server: Server, _ client: HTTPClient) async throws {
        let (_, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments")
        let deployments = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]] ?? []
        for deployment in deployments {
            guard let name = deployment["name"] as? String, name != "stable",
                  let cluster = (deployment["clusters"] as? [String: Any])?["web"] as? [String: Any],
                  let gateway = (cluster["gateways"] as? [String: Any])?["web"] as? [String: Any]
            else { continue }
            let (status, stored) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/gateways/\(name)/web/web")
            let standalone = (try? JSONSerialization.jsonObject(with: Data(stored.utf8))) as? [String: Any] ?? [:]
            #expect(status == 200 && weights(gateway) == weights(standalone),
                    "deployment \(name) shows \(weights(gateway)), its gateway \(name)/web/web \(status) \(weights(standalone))")
        }
    }

    /// A gateway's weights by the breed in each route's path (`d1/web/d1-sava:1.0/web` → `d1-sava:1.0`).
    static func weights(_ gateway: [String: Any]) -> [String: String] {
        var result: [String: String] = [:]
        for (path, route) in gateway["routes"] as? [String: Any] ?? [:] {
            let breed = path.split(separator: "/").first { $0.contains("-sava:") }.map(String.init) ?? path
            result[breed] = (route as? [String: Any])?["weight"] as? String ?? "?"
        }
        return result
    }

    // MARK: Processes

    /// Once every service is Done: one process per instance for every service of every deployment, none for
    /// anything else (no orphan of a deleted deployment, no second process for one instance).
    static func expectProcessesMatch(_ server: Server, _ client: HTTPClient) async throws {
        var expected: [String: Int] = [:]
        var phases: [String] = []
        let settled = try? await CanaryReleaseTests.eventually("every service Done, and the processes match them", timeout: .seconds(30)) {
            let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments")
            guard status == 200, let deployments = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]] else { return false }
            expected = [:]
            for deployment in deployments {
                for case let cluster as [String: Any] in (deployment["clusters"] as? [String: Any] ?? [:]).values {
                    for case let service as [String: Any] in cluster["services"] as? [Any] ?? [] {
                        let status = service["status"] as? [String: Any]
                        let phase = (status?["phase"] as? [String: Any])?["name"] as? String
                        guard phase == "Done" else {
                            phases = ["\(deployment["name"] ?? "?") \((service["breed"] as? [String: Any])?["name"] ?? "?"): \(status?["intention"] ?? "?")/\(phase ?? "?")"]
                            return false
                        }
                        guard status?["intention"] as? String == "Deployment" else { continue }
                        let breed = (service["breed"] as? [String: Any])?["name"] as? String ?? "?"
                        let instances = (service["scale"] as? [String: Any])?["instances"] as? Int ?? 1
                        // `d1-sava:1.0` runs `sava --text d1:1.0`.
                        expected[breed.replacingOccurrences(of: "-sava:", with: ":"), default: 0] += instances
                    }
                }
            }
            return FolderProcesses.sava(of: server.folder) == expected
        }
        #expect(settled != nil, "not every service is Done: \(phases)\n\(server.process.logTail())")
        #expect(FolderProcesses.sava(of: server.folder) == expected, "processes (by sava --text) against the deployments' services")
    }
}
