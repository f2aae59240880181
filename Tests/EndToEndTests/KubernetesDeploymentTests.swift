import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// `vamp-server` with `vamp.container-driver.type: kubernetes` against ``FakeKubernetesAPIServer``, a **fake**
/// Kubernetes API server (no real cluster can run here): a deployment POSTed to the API becomes a Deployment on the
/// fake, its service `Done` once the fake's pods are Running and Ready, with those pods as its instances; DELETE
/// removes the Deployment; a gateway gets a Kubernetes Service, removed with the gateway. The pods are the fake's records, not processes: no traffic goes through the gateway.
@Suite("End to end: Kubernetes driver against the fake API server", .serialized)
struct KubernetesDeploymentTests {
    static let blueprint = """
        name: kshop
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.0
                  deployable: {type: docker, definition: "magneticio/sava:1.0"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """

    @Test("a POSTed deployment becomes a Deployment on the fake and its service Done with the fake's pods as instances")
    func deployThroughTheFake() async throws {
        let fake = try await FakeKubernetesAPIServer.start()
        fake.readyDelay = .milliseconds(500)
        var serverToStop: VampServerFixture?
        do {
            let tokenFile = fake.folder.url.appendingPathComponent("token")
            try fake.token.write(to: tokenFile, atomically: true, encoding: .utf8)
            let server = try await VampServerFixture.start(extraEnvironment: [
                "VAMP_CONTAINER_DRIVER_TYPE": "kubernetes",
                "VAMP_CONTAINER_DRIVER_KUBERNETES_URL": fake.url,
                "VAMP_CONTAINER_DRIVER_KUBERNETES_TOKEN": tokenFile.path,
                "VAMP_CONTAINER_DRIVER_KUBERNETES_SERVER_CA_CERT": fake.caCertificateFile,
                "VAMP_GATEWAY_DRIVER_RESYNC_INTERVAL": "1",
            ])
            serverToStop = server
            let client = HTTPClient.shared
            let (_, info) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/info")
            #expect(info.contains("\"kubernetes\""), "\(info)")

            let posted = ContinuousClock.now
            let (created, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/deployments", yaml: Self.blueprint)
            #expect(created == 202, "\(body)")
            try await CanaryReleaseTests.eventually("kshop Done\n\(server.process.logTail())") {
                try await CanaryReleaseTests.allDone(client, server, "kshop", ["sava:1.0"])
            }
            print("e2e kubernetes (fake API server, pods ready after 0.5 s): POST /deployments to Done: \(ContinuousClock.now - posted)")
            #expect(fake.namespaceNames().contains("vamp"))
            let names = fake.deploymentNames(namespace: "vamp")
            #expect(names.count == 1, "\(names)")
            let pods = fake.pods(namespace: "vamp").compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }
            #expect(pods.count == 2)
            let (_, deployment) = try await CanaryReleaseTests.call(client, .GET, "\(server.api)/deployments/kshop")
            for pod in pods { #expect(deployment.contains(pod), "\(deployment)") }

            // A gateway gets a Kubernetes Service selecting the gateway agents on its port; deleted, the Service goes.
            let gatewayPort = try FreePort.next()
            let gateway = "name: kweb\nport: \(gatewayPort)/http\nroutes:\n  \"[127.0.0.1:9]\": {weight: 100%}\n"
            let (gatewayCreated, gatewayBody) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/gateways", yaml: gateway)
            #expect((200..<300).contains(gatewayCreated), "\(gatewayBody)")
            func service() -> [String: Any]? {
                fake.services(namespace: "vamp").values.first { ((($0["metadata"] as? [String: Any])?["annotations"] as? [String: String])?["io.vamp.gateway"]) == "kweb" }
            }
            try await CanaryReleaseTests.eventually("a Service for gateway kweb on the fake\n\(server.process.logTail())") { service() != nil }
            let spec = service()?["spec"] as? [String: Any]
            #expect(spec?["type"] as? String == "NodePort")
            #expect(spec?["selector"] as? [String: String] == ["io.vamp": "vamp-gateway-agent"])
            #expect(((spec?["ports"] as? [[String: Any]])?.first?["port"] as? Int) == gatewayPort)
            let (gatewayDeleted, _) = try await CanaryReleaseTests.call(client, .DELETE, "\(server.api)/gateways/kweb")
            #expect((200..<300).contains(gatewayDeleted))
            try await CanaryReleaseTests.eventually("the Service of gateway kweb deleted") { service() == nil }

            let (deleted, deletedBody) = try await CanaryReleaseTests.call(client, .DELETE, "\(server.api)/deployments/kshop", yaml: Self.blueprint)
            #expect(deleted == 202, "\(deletedBody)")
            try await CanaryReleaseTests.eventually("the Deployment is deleted on the fake") { fake.deploymentNames(namespace: "vamp").isEmpty }
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
