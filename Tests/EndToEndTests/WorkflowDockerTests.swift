import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// Workflows on the Docker driver with a real engine (the `DockerEngine` fixture, a busybox image): a `time` workflow
/// whose container calls the API back with busybox `wget` (host network, so `VAMP_URL` on 127.0.0.1 answers), and a
/// run past its timeout killed and recorded; no container is left behind.
@Suite("End to end: workflows as Docker containers", .serialized)
struct WorkflowDockerTests {
    typealias E2E = CanaryReleaseTests
    typealias Workflows = WorkflowEndToEndTests

    @Test("a time workflow every 2 s runs a busybox container that posts an event; a run past its timeout is killed; a daemon's container removed behind Vamp's back is replaced; no run's container left")
    func timeWorkflowOnDocker() async throws {
        let engine = try await DockerEngine.start()
        var serverToStop: CanaryReleaseTests.Server?
        do {
            let client = HTTPClient.shared
            let server = try await CanaryReleaseTests.Server.start(extraEnvironment: [
                "VAMP_CONTAINER_DRIVER_TYPE": "docker", "VAMP_CONTAINER_DRIVER_DOCKER_HOST": engine.host,
            ])
            serverToStop = server
            let post = #"wget -q -O- --header "Authorization: Bearer $VAMP_API_TOKEN" --header 'Content-Type: application/json' --post-data "{\"tags\":[\"tick:$VAMP_WORKFLOW_NAME\"]}" "$VAMP_URL/api/v1/events" && echo posted"#
            let (created, body) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
                name: boxed
                breed: {name: boxed, deployable: {type: docker, definition: "\(engine.image)"}}
                schedule: {time: {period: PT2S}}
                dialects:
                  docker:
                    HostConfig: {NetworkMode: host}
                    Cmd: ["/bin/sh", "-c", \(String(decoding: try JSONEncoder().encode(post), as: UTF8.self))]
                """)
            try #require(created == 202, "\(body)")
            try await E2E.eventually("2 ticks from containers\n\(server.process.logTail())", timeout: .seconds(40)) {
                try await Workflows.events(client, server, tag: "tick:boxed").count >= 2
            }
            let runs = try await Workflows.runs(client, server, "boxed")["runs"] as? [[String: Any]] ?? []
            let ended = runs.filter { $0["outcome"] as? String != "running" }
            #expect(ended.contains { $0["outcome"] as? String == "succeeded" && ($0["output"] as? String)?.contains("posted") == true }, "\(runs)")

            let (slow, slowBody) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
                name: stuck
                breed: {name: stuck, deployable: {type: docker, definition: "\(engine.image)"}}
                schedule: {time: {period: PT1H}}
                environment_variables: {VAMP_WORKFLOW_EXECUTION_TIMEOUT: 1}
                dialects: {docker: {Cmd: ["/bin/sleep", "60"]}}
                """)
            #expect(slow == 202, "\(slowBody)")
            try await E2E.eventually("a timed-out container run\n\(server.process.logTail())", timeout: .seconds(30)) {
                let runs = try await Workflows.runs(client, server, "stuck")["runs"] as? [[String: Any]] ?? []
                return runs.first?["outcome"] as? String == "timed-out"
            }
            // A daemon: one container, replaced when it is removed behind Vamp's back.
            let (daemon, daemonBody) = try await E2E.call(client, .POST, "\(server.api)/workflows", yaml: """
                name: keeper
                breed: {name: keeper, deployable: {type: docker, definition: "\(engine.image)"}}
                schedule: daemon
                dialects: {docker: {Cmd: ["/bin/sleep", "1000"]}}
                """)
            #expect(daemon == 202, "\(daemonBody)")
            func keepers() -> [String] {
                let filter = #"{"label":["io.vamp.workflow=keeper"],"status":["running"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                let list = engine.get("/v1.41/containers/json?filters=\(filter)")
                let containers = (try? JSONSerialization.jsonObject(with: Data((list?.body ?? "[]").utf8))) as? [[String: Any]] ?? []
                return containers.compactMap { $0["Id"] as? String }
            }
            try await E2E.eventually("the daemon's container runs\n\(server.process.logTail())", timeout: .seconds(30)) { keepers().count == 1 }
            let first = keepers()[0]
            try engine.removeContainer(first)
            try await E2E.eventually("the daemon's container replaced\n\(server.process.logTail())", timeout: .seconds(30)) {
                let now = keepers()
                return now.count == 1 && now[0] != first
            }

            // Suspended, and every run's container is gone.
            _ = try await E2E.call(client, .PUT, "\(server.api)/workflows/boxed/status", yaml: "suspended")
            try await E2E.eventually("no container of a run left") {
                let list = engine.get("/v1.41/containers/json?all=true&filters=%7B%22label%22%3A%5B%22io.vamp.run%22%5D%7D")
                return list?.body.trimmingCharacters(in: .whitespacesAndNewlines) == "[]"
            }
        } catch {
            serverToStop?.tearDown()
            await engine.stop()
            throw error
        }
        serverToStop?.tearDown()
        await engine.stop()
    }
}
