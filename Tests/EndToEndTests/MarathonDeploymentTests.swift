import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// `vamp-server` with `vamp.container-driver.type: marathon` against ``FakeMarathonServer`` (a FAKE Marathon that
/// follows the REST API v2 documentation; no Marathon can be installed here), with its embedded gateway agent on real
/// HAProxy. The fake runs each task of a `cmd` app as a real local process on the ports it assigned, as a Mesos agent
/// would, so a `sava` breed posted to `/deployments` answers through the Vamp gateway from both of its tasks.
@Suite("End to end: Marathon driver against a fake Marathon, with real HAProxy and sava tasks", .serialized)
struct MarathonDeploymentTests {
    static func blueprint(gateway: Int) -> String {
        """
        name: marathon-shop
        gateways:
          \(gateway)/http: web/web
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.0
                  deployable: {type: command, definition: "sava --text \\"sava task on $PORT_WEB\\""}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """
    }

    /// The service's instances as `GET /deployments/<name>` shows them: name → (host, web port, deployed).
    static func instances(_ client: HTTPClient, _ server: VampServerFixture) async throws -> [String: (String, Int, Bool)] {
        let (status, body) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/marathon-shop")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let cluster = (object["clusters"] as? [String: Any])?["web"] as? [String: Any],
            let service = (cluster["services"] as? [[String: Any]])?.first
        else { return [:] }
        var result: [String: (String, Int, Bool)] = [:]
        for instance in service["instances"] as? [[String: Any]] ?? [] {
            guard let name = instance["name"] as? String else { continue }
            let port = (instance["ports"] as? [String: Any])?["web"] as? Int ?? 0
            result[name] = (instance["host"] as? String ?? "", port, instance["deployed"] as? Bool ?? false)
        }
        return result
    }

    @Test("a sava breed posted to /deployments runs as 2 fake-Marathon tasks that answer through the gateway; a killed task's replacement serves")
    func deployThroughTheGateway() async throws {
        let fake = try await FakeMarathonServer.start(credentials: .basic(user: "vamp", password: "s3cret"))
        fake.runsCommands = true
        fake.commandEnvironment = ["PATH": CanaryReleaseTests.bin.path + ":/usr/bin:/bin"]
        var serverToStop: VampServerFixture?
        do {
            let client = HTTPClient.shared
            let server = try await VampServerFixture.start(extraEnvironment: [
                "VAMP_CONTAINER_DRIVER_TYPE": "marathon", "VAMP_CONTAINER_DRIVER_MARATHON_URL": fake.url,
                "VAMP_CONTAINER_DRIVER_MARATHON_USER": "vamp", "VAMP_CONTAINER_DRIVER_MARATHON_PASSWORD": "s3cret",
            ])
            serverToStop = server
            let (_, info) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/info")
            #expect(info.contains("\"marathon\""), "\(info)")
            #expect(!info.contains("s3cret"), "\(info)")

            let gatewayPort = try FreePort.next()
            let posted = ContinuousClock.now
            let (created, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/deployments", yaml: Self.blueprint(gateway: gatewayPort))
            #expect(created == 202, "\(body)")
            var seen: Set<String> = []
            try await CanaryReleaseTests.eventually("both tasks answer through the gateway\n\(server.process.logTail())") {
                let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/")
                if status == 200 { seen.insert(body) }
                return seen.count == 2
            }
            print("e2e marathon (fake): POST /deployments to both tasks serving through the gateway: \(ContinuousClock.now - posted)")
            try await CanaryReleaseTests.eventually("sava Done\n\(server.process.logTail())") {
                try await CanaryReleaseTests.allDone(client, server, "marathon-shop", ["sava:1.0"])
            }

            // The service's instances are the fake's tasks: task ids, hosts and ports.
            let appID = try #require(fake.appIDs.first)
            #expect(fake.appIDs.count == 1)
            #expect(appID.hasPrefix("/default/deployment-marathon-shop-service-"))
            let tasks = fake.tasks(of: appID)
            #expect(tasks.count == 2)
            try await CanaryReleaseTests.eventually("instances reported") { try await Self.instances(client, server).count == 2 }
            let instances = try await Self.instances(client, server)
            #expect(Set(instances.keys) == Set(tasks.map(\.id)))
            for task in tasks {
                #expect(instances[task.id]?.0 == "127.0.0.1")
                #expect(instances[task.id]?.1 == task.ports.first)
                #expect(instances[task.id]?.2 == true)
                #expect(seen.contains("sava task on \(task.ports[0])"), "\(seen)")
            }
            let posts = fake.requests("POST")
            #expect(posts.count == 1)
            #expect(posts.first?.json?["cmd"] as? String == "sava --text \"sava task on $PORT_WEB\"")

            // Kill one task as a lost agent would: Marathon's replacement (new id, new port) serves through the gateway.
            let victim = tasks[0]
            let killed = ContinuousClock.now
            #expect(fake.killTask(victim.id))
            var after: Set<String> = []
            try await CanaryReleaseTests.eventually("the replacement task answers through the gateway\n\(server.process.logTail())") {
                let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(gatewayPort)/")
                if status == 200 { after.insert(body) }
                return !after.subtracting(seen).isEmpty
            }
            print("e2e marathon (fake): task killed to its replacement serving through the gateway: \(ContinuousClock.now - killed)")
            #expect(fake.requests("POST").count == 1, "a replaced task needs no call from Vamp")

            // Undeploy: the app goes, and so do its tasks' processes.
            let (_, asBlueprint) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/marathon-shop?as_blueprint=true")
            let (deleted, deletedBody) = try await CanaryReleaseTests.call(client, .DELETE, "\(server.api)/deployments/marathon-shop", yaml: asBlueprint)
            #expect(deleted == 202, "\(deletedBody)")
            try await CanaryReleaseTests.eventually("the app is deleted on the fake Marathon") { fake.appIDs.isEmpty }
            #expect(fake.requests("DELETE").first?.path == "/v2/apps" + appID)
            server.tearDown()
            serverToStop = nil
        } catch {
            serverToStop?.tearDown()
            await fake.stop()
            throw error
        }
        await fake.stop()
    }
}
