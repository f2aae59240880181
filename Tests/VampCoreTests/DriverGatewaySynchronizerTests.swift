import ContainerDrivers
import Foundation
import Logging
import Persistence
import Testing
import VampCore
import VampModel
import VampTesting

/// ``DriverGatewaySynchronizer`` with the real Kubernetes driver against the FAKE Kubernetes API server (no cluster can
/// run here): what the driver adds for gateways follows the stored gateways, through the protocol alone.
@Suite("DriverGatewaySynchronizer")
struct DriverGatewaySynchronizerTests {
    @Test("every stored gateway with a port gets its Kubernetes Service; the Service of a gateway that is gone is deleted")
    func kubernetesServicesFollowTheGateways() async throws {
        let fake = try await FakeKubernetesAPIServer.start()
        do {
            let driver: any ContainerDriver = try KubernetesDriver(
                configuration: .init(url: fake.url, bearer: fake.token, caCertificateFile: fake.caCertificateFile), logger: Logger(label: "test"))
            // A Service of a gateway Vamp no longer has.
            try await driver.synchronizeGateways([DriverGateway(name: "gone", lookupName: "0ld", port: 9999)])
            #expect(fake.services().count == 1)

            let vamp = Vamp(artifacts: InMemoryArtifactStore())
            let breed = Breed(
                name: "web:1.0", deployable: Deployable(type: "container/docker", definition: "acme/web:1.0"), ports: [BreedPort(name: "web", number: 8080)])
            _ = try await vamp.deploy(.blueprint(Blueprint(
                name: "shop", gateways: [Gateway(name: "9050", port: GatewayPort(number: 9050), routes: [Route(path: "web/web")])],
                clusters: [Cluster(name: "web", services: [Service(breed: .inline(breed))])])))
            var stored: [String: Int] = [:]
            for gateway in try await vamp.list(.gateway, page: PageRequest(page: 1, perPage: 100)).items {
                let object = try JSONSerialization.jsonObject(with: gateway.json) as? [String: Any]
                if let port = (object?["port"] as? String).flatMap({ Int($0.split(separator: "/").first ?? "") }) { stored[gateway.name] = port }
            }
            #expect(stored.values.contains(9050), "\(stored)")

            await DriverGatewaySynchronizer(vamp: vamp, driver: driver, interval: .seconds(60)).pass()
            var served: [String: Int] = [:]
            for service in fake.services().values {
                let metadata = service["metadata"] as? [String: Any]
                let name = (metadata?["annotations"] as? [String: String])?["io.vamp.gateway"] ?? ""
                served[name] = ((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.first?["port"] as? Int
            }
            #expect(served == stored, "one Service per stored gateway, on its port; none for the gateway that is gone")
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }
}
