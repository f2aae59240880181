import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// `vamp-server` with its embedded gateway agent (real HAProxy) and the Docker driver on a real engine (the
/// `DockerEngine` fixture): a busybox httpd breed with 2 instances posted to `/deployments` answers through the
/// gateway from both containers; a container killed behind Vamp's back is replaced and the replacement serves.
/// Prints the figures of issue 15 beside a baseline of the same containers made with plain Engine API calls.
@Suite("End to end: Docker driver with real HAProxy and dockerd", .serialized)
struct DockerDeploymentTests {
    /// Each container writes its own id (`HOSTNAME`) as its page, so the gateway's answers tell the instances apart.
    static let command = ["/bin/sh", "-c", "mkdir -p /tmp/w && echo $HOSTNAME > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"]

    static func blueprint(gateway: Int, image: String, name: String = "bbox", instances: Int = 2) -> String {
        let cmd = command.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ", ")
        return """
            name: \(name)
            gateways:
              \(gateway)/http: web/web
            clusters:
              web:
                services:
                  - breed:
                      name: bbox:1.0
                      deployable: {type: docker, definition: "\(image)"}
                      ports: {web: 8080/http}
                    scale: {cpu: 0.1, memory: 64MB, instances: \(instances)}
                    dialects:
                      docker:
                        Cmd: [\(cmd)]
            """
    }

    /// The figure a plain Engine API client gets: create and start `count` containers, until each answers on its port.
    static func baseline(_ engine: DockerEngine, count: Int, client: HTTPClient) async throws -> Duration {
        let start = ContinuousClock.now
        var ids: [String] = []
        for _ in 0..<count {
            let body: [String: Any] = [
                "Image": engine.image, "Cmd": command, "ExposedPorts": ["8080/tcp": [String: Any]()],
                "HostConfig": ["PortBindings": ["8080/tcp": [["HostIp": "127.0.0.1", "HostPort": ""]]]],
            ]
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            let created = try #require(engine.post("/v1.41/containers/create", json: json))
            let id = try #require((try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["Id"] as? String)
            _ = engine.post("/v1.41/containers/\(id)/start")
            ids.append(id)
        }
        for id in ids {
            let inspect = try #require(engine.get("/v1.41/containers/\(id)/json"))
            let object = try JSONSerialization.jsonObject(with: Data(inspect.body.utf8)) as? [String: Any]
            let ports = (object?["NetworkSettings"] as? [String: Any])?["Ports"] as? [String: [[String: String]]]
            let port = try #require(ports?["8080/tcp"]?.first?["HostPort"].flatMap { Int($0) })
            try await CanaryReleaseTests.eventually("baseline container answers") {
                try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/").0 == 200
            }
        }
        let took = ContinuousClock.now - start
        for id in ids { try engine.removeContainer(id) }
        return took
    }

    /// Run with the driver following the engine's events and with polling only (`vamp.container-driver.docker.events`),
    /// so the replacement figures of both come from the same run.
    @Test(
        "2 busybox containers through POST /deployments answer through the gateway; a killed container's replacement serves",
        arguments: [false, true])
    func deployThroughTheGateway(events: Bool) async throws {
        let mode = events ? "events and polling" : "polling only"
        let engine = try await DockerEngine.start()
        var serverToStop: CanaryReleaseTests.Server?
        do {
            let client = HTTPClient.shared
            let baseline = try await Self.baseline(engine, count: 2, client: client)
            print("e2e docker baseline: 2 containers created, started and answering (plain Engine API): \(baseline)")
            let single = try await Self.baseline(engine, count: 1, client: client)
            print("e2e docker baseline: 1 container created, started and answering (plain Engine API): \(single)")

            let server = try await CanaryReleaseTests.Server.start(extraEnvironment: [
                "VAMP_CONTAINER_DRIVER_TYPE": "docker", "VAMP_CONTAINER_DRIVER_DOCKER_HOST": engine.host,
                "VAMP_CONTAINER_DRIVER_DOCKER_EVENTS": String(events),
            ])
            serverToStop = server
            let (_, info) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/info")
            #expect(info.contains("\"docker\""), "\(info)")

            let gatewayPort = try FreePort.next()
            let posted = ContinuousClock.now
            let (created, body) = try await CanaryReleaseTests.call(
                client, .POST, "\(server.api)/deployments", yaml: Self.blueprint(gateway: gatewayPort, image: engine.image))
            #expect(created == 202, "\(body)")
            var seen: Set<String> = []
            try await CanaryReleaseTests.eventually("both containers answer through the gateway\n\(server.process.logTail())") {
                let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/")
                if status == 200 { seen.insert(body) }
                return seen.count == 2
            }
            let serving = ContinuousClock.now - posted
            print("e2e docker (\(mode)): POST /deployments to both containers serving through the gateway: \(serving)")
            try await CanaryReleaseTests.eventually("bbox Done") { try await CanaryReleaseTests.allDone(client, server, "bbox", ["bbox:1.0"]) }

            // Three times: kill one container behind Vamp's back; its replacement serves through the gateway.
            var running = seen
            for round in 1...3 {
                let victim = try #require(running.sorted().first)
                let killed = ContinuousClock.now
                try engine.removeContainer(victim)
                running.remove(victim)
                var replacement: String?
                try await CanaryReleaseTests.eventually("a replacement answers through the gateway\n\(server.process.logTail())") {
                    let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/")
                    if status == 200, !seen.contains(body) { replacement = body }
                    return replacement != nil
                }
                let replaced = ContinuousClock.now - killed
                print("e2e docker (\(mode)): container killed to its replacement serving through the gateway, round \(round): \(replaced)")
                seen.insert(replacement!)
                running.insert(replacement!)
                try await CanaryReleaseTests.eventually("bbox Done again") { try await CanaryReleaseTests.allDone(client, server, "bbox", ["bbox:1.0"]) }
            }

            // Undeploy: every container goes.
            let (deleted, deletedBody) = try await CanaryReleaseTests.call(
                client, .DELETE, "\(server.api)/deployments/bbox", yaml: Self.blueprint(gateway: gatewayPort, image: engine.image))
            #expect(deleted == 202, "\(deletedBody)")
            try await CanaryReleaseTests.eventually("every container removed") {
                let list = engine.get("/v1.41/containers/json?all=true")
                return list?.body.trimmingCharacters(in: .whitespacesAndNewlines) == "[]"
            }
            server.tearDown()
            serverToStop = nil
        } catch {
            serverToStop?.tearDown()
            await engine.stop()
            throw error
        }
        await engine.stop()
    }

    /// The phase name and notification of the deployment's only service, nil while it has none.
    static func phase(_ client: HTTPClient, _ server: CanaryReleaseTests.Server, _ deployment: String) async throws -> (String, String)? {
        let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/\(deployment)")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let clusters = object["clusters"] as? [String: Any]
        else { return nil }
        for case let cluster as [String: Any] in clusters.values {
            for case let service as [String: Any] in cluster["services"] as? [Any] ?? [] {
                let phase = (service["status"] as? [String: Any])?["phase"] as? [String: Any]
                return (phase?["name"] as? String ?? "?", phase?["notification"] as? String ?? "")
            }
        }
        return nil
    }

    /// Posts a one-instance deployment of `image` and waits for its service to be `Failed`: the notification.
    static func failure(_ client: HTTPClient, _ server: CanaryReleaseTests.Server, _ name: String, image: String) async throws -> String {
        let (created, body) = try await CanaryReleaseTests.call(
            client, .POST, "\(server.api)/deployments", yaml: blueprint(gateway: try FreePort.next(), image: image, name: name, instances: 1))
        #expect(created == 202, "\(body)")
        var notification = ""
        try await CanaryReleaseTests.eventually("\(name) Failed\n\(server.process.logTail())", timeout: .seconds(60)) {
            guard let (phase, text) = try await phase(client, server, name), phase == "Failed" else { return false }
            notification = text
            return true
        }
        return notification
    }

    @Test("a pull that cannot reach its registry, or that the registry refuses, fails the service; the right account deploys")
    func pullsThroughTheReconciler() async throws {
        let engine = try await DockerEngine.start()
        var registry: DockerRegistry?
        var serverToStop: CanaryReleaseTests.Server?
        do {
            let client = HTTPClient.shared
            let started = try await DockerRegistry.start()
            registry = started
            let image = try engine.push(to: started, repository: "vamp/bbox", tag: "1.0")
            let base = [
                "VAMP_CONTAINER_DRIVER_TYPE": "docker", "VAMP_CONTAINER_DRIVER_DOCKER_HOST": engine.host,
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_USERNAME": started.username,
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_SERVER_ADDRESS": started.address,
            ]

            // The right account.
            var server = try await CanaryReleaseTests.Server.start(extraEnvironment: base.merging([
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_PASSWORD": started.password,
            ]) { $1 })
            serverToStop = server
            // A registry nobody listens on: Failed, naming the image and the engine's error.
            let nowhere = "127.0.0.1:\(try FreePort.next())/vamp/none:1.0"
            let unreachable = try await Self.failure(client, server, "nowhere", image: nowhere)
            print("e2e docker: an unreachable registry: \(unreachable)")
            #expect(unreachable.contains("cannot pull image \(nowhere)"), "\(unreachable)")
            #expect(unreachable.contains("connection refused"), "\(unreachable)")
            // The image pushed to the registry with its account: pulled, deployed, serving through the gateway.
            let gatewayPort = try FreePort.next()
            let (created, body) = try await CanaryReleaseTests.call(
                client, .POST, "\(server.api)/deployments", yaml: Self.blueprint(gateway: gatewayPort, image: image, instances: 1))
            #expect(created == 202, "\(body)")
            try await CanaryReleaseTests.eventually("bbox Done\n\(server.process.logTail())", timeout: .seconds(60)) {
                try await CanaryReleaseTests.allDone(client, server, "bbox", ["bbox:1.0"])
            }
            try await CanaryReleaseTests.eventually("the pulled image's container answers through the gateway") {
                try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/").0 == 200
            }
            let (deleted, _) = try await CanaryReleaseTests.call(
                client, .DELETE, "\(server.api)/deployments/bbox", yaml: Self.blueprint(gateway: gatewayPort, image: image, instances: 1))
            #expect(deleted == 202)
            try await CanaryReleaseTests.eventually("every container removed") {
                engine.get("/v1.41/containers/json?all=true")?.body.trimmingCharacters(in: .whitespacesAndNewlines) == "[]"
            }
            server.tearDown()
            serverToStop = nil
            // The pulled image goes, so the next server has to pull it again.
            #expect(engine.delete("/v1.41/images/\(image)")?.status == 200)

            // A wrong password: Failed, naming the image, the registry's refusal and the setting.
            server = try await CanaryReleaseTests.Server.start(extraEnvironment: base.merging([
                "VAMP_CONTAINER_DRIVER_DOCKER_REPOSITORY_PASSWORD": "wrong-password",
            ]) { $1 })
            serverToStop = server
            let refused = try await Self.failure(client, server, "refused", image: image)
            print("e2e docker: a wrong registry password: \(refused)")
            #expect(refused.contains("cannot pull image \(image)"), "\(refused)")
            #expect(refused.contains("unauthorized") || refused.contains("authentication required"), "\(refused)")
            #expect(refused.contains("vamp.container-driver.docker.repository.username \(started.username)"), "\(refused)")
            #expect(engine.get("/v1.41/images/\(image)/json")?.status == 404)
            server.tearDown()
            serverToStop = nil
        } catch {
            serverToStop?.tearDown()
            await registry?.stop()
            await engine.stop()
            throw error
        }
        await registry?.stop()
        await engine.stop()
    }
}
