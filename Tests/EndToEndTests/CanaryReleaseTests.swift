import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The reason Vamp exists, end to end with real parts: the built `vamp-server` with its embedded gateway agent
/// (real HAProxy), the file KV store, the local-process driver running real `sava` processes. A canary release from
/// deploy to promotion while a load loop runs, self-healing, a server restart, and a frontend reaching its backend
/// through `$backend.host:$backend.ports.port`.
@Suite("End to end: canary release with real HAProxy and processes", .serialized)
struct CanaryReleaseTests {
    static let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()

    /// A running server in its own folder, on its own ports (VampTesting's fixture).
    typealias Server = VampServerFixture

    // MARK: Traffic

    /// A loop of requests to a gateway port, counting answers by body and every failure.
    final class Load: Sendable {
        struct Counts: Sendable {
            var bodies: [String: Int] = [:]
            var failures: [String] = []
            var total = 0
        }

        let counts = Mutex(Counts())
        let task: Mutex<Task<Void, Never>?> = Mutex(nil)

        init(client: HTTPClient, port: Int) {
            let task = Task { [self] in
                while !Task.isCancelled {
                    do {
                        let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/")
                        self.counts.withLock { counts in
                            counts.total += 1
                            if status == 200 { counts.bodies[body, default: 0] += 1 } else { counts.failures.append("\(status) \(body.prefix(120))") }
                        }
                    } catch {
                        if Task.isCancelled { return }
                        self.counts.withLock { $0.failures.append("\(error)") }
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            self.task.withLock { $0 = task }
        }

        func stop() async {
            let task = self.task.withLock { $0 }
            task?.cancel()
            await task?.value
        }

        /// Cancels the requests without waiting for the last one (for a `defer`, which cannot wait).
        func cancel() { task.withLock { $0 }?.cancel() }

        var snapshot: Counts { counts.withLock { $0 } }
    }

    /// One request on a new connection (`Connection: close`), as the agent's reload guarantee is stated: a
    /// connection kept idle across a reload is closed by the old HAProxy worker, and a client that reuses it at that
    /// moment sees the close (browsers retry; this loop would count it).
    static func get(_ client: HTTPClient, _ url: String, headers: [(String, String)] = []) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func call(
        _ client: HTTPClient, _ method: HTTPMethod, _ url: String, yaml: String? = nil, token: String? = VampServerFixture.adminToken
    ) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "application/json")
        if let yaml {
            request.headers.add(name: "Content-Type", value: "application/x-yaml")
            request.body = .bytes(ByteBuffer(string: yaml))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// `requests` answers of the gateway, counted by body.
    static func sample(_ client: HTTPClient, port: Int, requests: Int, headers: [(String, String)] = []) async throws -> [String: Int] {
        var bodies: [String: Int] = [:]
        for _ in 0..<requests {
            let (status, body) = try await get(client, "http://127.0.0.1:\(port)/", headers: headers)
            bodies[status == 200 ? body : "HTTP \(status)", default: 0] += 1
        }
        return bodies
    }

    /// Polls until `condition` holds, every 20 ms; returns the time it took.
    @discardableResult
    static func eventually(
        _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
    ) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if (try? await condition()) == true { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw FixtureError("timed out after \(timeout): \(what)")
    }

    // MARK: Deployment state

    /// Service breed name → phase (`Initiated`, `Updating`, `Done`, `Failed`) of a deployment; empty when it is gone.
    static func phases(_ client: HTTPClient, _ server: Server, _ deployment: String) async throws -> [String: String] {
        let (status, body) = try await call(client, .GET, "\(server.api)/deployments/\(deployment)")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let clusters = object["clusters"] as? [String: Any] else { return [:] }
        var result: [String: String] = [:]
        for case let cluster as [String: Any] in clusters.values {
            for case let service as [String: Any] in cluster["services"] as? [Any] ?? [] {
                let breed = (service["breed"] as? [String: Any])?["name"] as? String ?? "?"
                let status = service["status"] as? [String: Any]
                let phase = (status?["phase"] as? [String: Any])?["name"] as? String ?? "?"
                result[breed] = "\(status?["intention"] as? String ?? "?")/\(phase)"
            }
        }
        return result
    }

    static func allDone(_ client: HTTPClient, _ server: Server, _ deployment: String, _ services: Set<String>) async throws -> Bool {
        let phases = try await phases(client, server, deployment)
        return Set(phases.keys) == services && phases.values.allSatisfy { $0 == "Deployment/Done" }
    }

    // MARK: Processes

    /// Pids of `sava` processes (not their shells) answering `text`, started in this test's folder.
    static func savaPids(text: String?, folder: TemporaryDirectory) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let first = arguments.first, first.hasSuffix("sava") else { return nil }
            let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd")) ?? ""
            guard cwd.hasPrefix(folder.url.resolvingSymlinksInPath().path) || cwd.hasPrefix(folder.url.path) else { return nil }
            if let text, !arguments.contains(text) { return nil }
            return pid
        }
    }

    static func blueprint(gateway: Int) -> String {
        """
        name: sava
        gateways:
          \(gateway)/http: web/web
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.0
                  deployable: {type: command, definition: "sava --text sava:1.0"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """
    }

    static let canary = """
        name: sava
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.1
                  deployable: {type: command, definition: "sava --text sava:1.1"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """

    /// The cluster gateway `sava/web/web` with a new split, as `vamp update-gateway` writes it back.
    static func split(_ old: Int, _ new: Int, condition: String? = nil, port: Int) -> String {
        var text = """
            name: sava/web/web
            port: \(port)/http
            routes:
              sava/web/sava:1.0/web: {weight: \(old)%}
              sava/web/sava:1.1/web: {weight: \(new)%
            """
        text += condition.map { ", condition: \"\($0)\", condition_strength: 100%}" } ?? "}"
        return text + "\n"
    }

    @Test("deploy 1.0, merge 1.1 at 0%, 90/10, a header condition, 0/100, slice 1.0: no request fails; a killed process is replaced; a restarted server deploys nothing twice and traffic goes on")
    func canaryRelease() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let gatewayPort = try FreePort.next()

        // Deploy: 100% of requests get 1.0.
        let posted = ContinuousClock.now
        let (created, createdBody) = try await Self.call(client, .POST, "\(server.api)/deployments", yaml: Self.blueprint(gateway: gatewayPort))
        #expect(created == 202, "\(createdBody)")
        try await Self.eventually("sava:1.0 Done and serving through the gateway\n\(server.process.logTail())") {
            let (status, body) = try await Self.get(client, "http://127.0.0.1:\(gatewayPort)/")
            return status == 200 && body == "sava:1.0"
        }
        try await Self.eventually("sava:1.0 Done") { try await Self.allDone(client, server, "sava", ["sava:1.0"]) }
        let serving = ContinuousClock.now - posted
        print("e2e: POST /deployments to serving and Done: \(serving)")
        #expect(Self.savaPids(text: "sava:1.0", folder: server.folder).count == 2)
        // The events of §5.1 that scripts written for the original wait on.
        for tags in [
            ["deployments:sava", "clusters:web", "services:sava:1.0", "synchronization:deployed"],
            ["gateways:sava/web/web", "deployed"], ["gateways:sava/\(gatewayPort)", "deployed"],
        ] {
            let query = tags.map { "tag=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let (_, events) = try await Self.call(client, .GET, "\(server.api)/events?\(query)")
            #expect((try JSONSerialization.jsonObject(with: Data(events.utf8)) as? [Any])?.count == 1, "one event tagged \(tags): \(events)")
        }

        let load = Load(client: client, port: gatewayPort)

        // Merge 1.1: still all 1.0.
        let (merged, mergedBody) = try await Self.call(client, .PUT, "\(server.api)/deployments/sava", yaml: Self.canary)
        #expect(merged == 202, "\(mergedBody)")
        try await Self.eventually("sava:1.1 Done") { try await Self.allDone(client, server, "sava", ["sava:1.0", "sava:1.1"]) }
        #expect(try await Self.sample(client, port: gatewayPort, requests: 100) == ["sava:1.0": 100])

        let (_, gatewayJSON) = try await Self.call(client, .GET, "\(server.api)/gateways/sava/web/web")
        let gatewayObject = try JSONSerialization.jsonObject(with: Data(gatewayJSON.utf8)) as? [String: Any]
        let internalPort = try #require((gatewayObject?["port"] as? String)?.split(separator: "/").first.flatMap { Int($0) })

        // 90/10: about one in ten gets 1.1.
        let shifted = ContinuousClock.now
        let (split, splitBody) = try await Self.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: Self.split(90, 10, port: internalPort))
        #expect(split == 202, "\(splitBody)")
        let seen = try await Self.eventually("a request reaches sava:1.1 after the 90/10 split") {
            let (_, body) = try await Self.get(client, "http://127.0.0.1:\(gatewayPort)/")
            return body == "sava:1.1"
        }
        print("e2e: weight change to the first request on the new version: \(ContinuousClock.now - shifted) (polled: \(seen))")
        let tenth = try await Self.sample(client, port: gatewayPort, requests: 400)
        #expect(tenth.keys.allSatisfy { $0 == "sava:1.0" || $0 == "sava:1.1" }, "\(tenth)")
        #expect((12...80).contains(tenth["sava:1.1", default: 0]), "about 40 of 400 requests on 1.1: \(tenth)")

        // A header condition: every request with the header gets 1.1.
        let (conditioned, conditionedBody) = try await Self.call(
            client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: Self.split(90, 10, condition: "has header X-Canary", port: internalPort))
        #expect(conditioned == 202, "\(conditionedBody)")
        try await Self.eventually("requests with X-Canary reach sava:1.1") {
            try await Self.sample(client, port: gatewayPort, requests: 20, headers: [("X-Canary", "yes")]) == ["sava:1.1": 20]
        }
        #expect(try await Self.sample(client, port: gatewayPort, requests: 100, headers: [("X-Canary", "yes")]) == ["sava:1.1": 100])

        // Promote, then slice 1.0 away: its processes are gone and the deployment holds only 1.1.
        _ = try await Self.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: Self.split(0, 100, port: internalPort))
        try await Self.eventually("all requests on sava:1.1") {
            try await Self.sample(client, port: gatewayPort, requests: 30) == ["sava:1.1": 30]
        }
        let (sliced, slicedBody) = try await Self.call(client, .DELETE, "\(server.api)/deployments/sava", yaml: """
            name: sava
            clusters:
              web:
                services: [{breed: sava:1.0}]
            """)
        #expect(sliced == 202, "\(slicedBody)")
        try await Self.eventually("only sava:1.1 left, Done") { try await Self.allDone(client, server, "sava", ["sava:1.1"]) }
        try await Self.eventually("the sava:1.0 processes are gone") { Self.savaPids(text: "sava:1.0", folder: server.folder).isEmpty }

        await load.stop()
        let counts = load.snapshot
        print("e2e: \(counts.total) requests during the release, \(counts.failures.count) failed, \(counts.bodies)")
        #expect(counts.failures.isEmpty, "no request may fail during the release: \(counts.failures.prefix(5))")
        #expect(counts.total > 200)

        // Self-healing: kill one 1.1 process; it is replaced.
        let before = Set(Self.savaPids(text: "sava:1.1", folder: server.folder))
        #expect(before.count == 2)
        kill(before.first!, SIGKILL)
        try await Self.eventually("a new sava:1.1 process replaces the killed one") {
            let now = Set(Self.savaPids(text: "sava:1.1", folder: server.folder))
            return now.count == 2 && !now.contains(before.first!)
        }
        try await Self.eventually("sava:1.1 Done again") { try await Self.allDone(client, server, "sava", ["sava:1.1"]) }

        // Restart the server, gracefully and then by SIGKILL: nothing is deployed twice, traffic goes on.
        let running = Set(Self.savaPids(text: "sava:1.1", folder: server.folder))
        let restartLoad = Load(client: client, port: gatewayPort)
        try await Task.sleep(for: .milliseconds(300))
        try await server.restart(signal: SIGTERM, log: "server-2.log")
        try await Task.sleep(for: .seconds(2))
        try await server.restart(signal: SIGKILL, log: "server-3.log")
        try await Task.sleep(for: .seconds(2))
        try await Self.eventually("sava:1.1 Done after the restarts") { try await Self.allDone(client, server, "sava", ["sava:1.1"]) }
        await restartLoad.stop()
        let restartCounts = restartLoad.snapshot
        print("e2e: \(restartCounts.total) requests across two server restarts, \(restartCounts.failures.count) failed")
        #expect(Set(Self.savaPids(text: "sava:1.1", folder: server.folder)) == running, "the restarted server adopts the processes")
        #expect(restartCounts.failures.isEmpty, "traffic never stops: \(restartCounts.failures.prefix(5))\n\(server.process.logTail())")
        #expect(restartCounts.bodies.keys.sorted() == ["sava:1.1"])
    }

    @Test("a frontend reaches its backend through $backend.host:$backend.ports.port, end to end through HAProxy")
    func dependency() async throws {
        let server = try await Server.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let gatewayPort = try FreePort.next()
        let blueprint = """
            name: shop
            gateways:
              \(gatewayPort)/http: frontend/web
            clusters:
              frontend:
                services:
                  - breed:
                      name: frontend:1.0
                      deployable: {type: command, definition: "sava --text frontend --upstream http://$BACKEND/"}
                      ports: {web: 8080/http}
                      environment_variables:
                        BACKEND: $backend.host:$backend.ports.port
                      dependencies: {backend: backend:1.0}
              backend:
                services:
                  - breed:
                      name: backend:1.0
                      deployable: {type: command, definition: "sava --text backend"}
                      ports: {port: 9000/http}
            """
        let (created, body) = try await Self.call(client, .POST, "\(server.api)/deployments", yaml: blueprint)
        #expect(created == 202, "\(body)")
        try await Self.eventually("the frontend answers with the backend's answer\n\(server.process.logTail())") {
            let (status, answer) = try await Self.get(client, "http://127.0.0.1:\(gatewayPort)/")
            return status == 200 && answer == "frontend -> backend"
        }
        let (_, deployment) = try await Self.call(client, .GET, "\(server.api)/deployments/shop")
        #expect(deployment.contains("\"BACKEND\":\"127.0.0.1:"), "\(deployment)")

        // Remove everything: the deployment is gone and so are its processes.
        let (_, asBlueprint) = try await Self.call(client, .GET, "\(server.api)/deployments/shop?as_blueprint=true")
        let (removed, removedBody) = try await Self.call(client, .DELETE, "\(server.api)/deployments/shop", yaml: asBlueprint)
        #expect(removed == 202, "\(removedBody)")
        try await Self.eventually("the deployment is gone (404)") { try await Self.call(client, .GET, "\(server.api)/deployments/shop").0 == 404 }
        #expect(Self.savaPids(text: nil, folder: server.folder).isEmpty)
        #expect(try await Self.call(client, .GET, "\(server.api)/gateways/shop/\(gatewayPort)").0 == 404)
    }
}

extension VampServerFixture {
    /// `http://127.0.0.1:<port>/api/v1`.
    var api: String { "http://127.0.0.1:\(apiPort)/api/v1" }

    /// A server with the end-to-end tests' binaries (`vamp-server`, `sava`) next to the test bundle.
    static func start(extraEnvironment: [String: String] = [:]) async throws -> VampServerFixture {
        try await VampServerFixture(binaries: CanaryReleaseTests.bin, extraEnvironment: extraEnvironment)
    }
}
