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

    static func blueprint(gateway: Int, image: String) -> String {
        let cmd = command.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ", ")
        return """
            name: bbox
            gateways:
              \(gateway)/http: web/web
            clusters:
              web:
                services:
                  - breed:
                      name: bbox:1.0
                      deployable: {type: docker, definition: "\(image)"}
                      ports: {web: 8080/http}
                    scale: {cpu: 0.1, memory: 64MB, instances: 2}
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

    @Test("2 busybox containers through POST /deployments answer through the gateway; a killed container's replacement serves")
    func deployThroughTheGateway() async throws {
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
            print("e2e docker: POST /deployments to both containers serving through the gateway: \(serving)")
            try await CanaryReleaseTests.eventually("bbox Done") { try await CanaryReleaseTests.allDone(client, server, "bbox", ["bbox:1.0"]) }

            // Kill one container behind Vamp's back: its replacement serves through the gateway.
            let victim = try #require(seen.sorted().first)
            let killed = ContinuousClock.now
            try engine.removeContainer(victim)
            var after: Set<String> = []
            try await CanaryReleaseTests.eventually("a replacement answers through the gateway\n\(server.process.logTail())") {
                let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/")
                if status == 200 { after.insert(body) }
                return !after.subtracting(seen).isEmpty
            }
            let replaced = ContinuousClock.now - killed
            print("e2e docker: container killed to its replacement serving through the gateway: \(replaced)")

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
}
