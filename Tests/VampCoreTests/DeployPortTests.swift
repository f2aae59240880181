import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

@Suite("Deploy: ports")
struct DeployPortTests {
    @Test("an external gateway's own port is not given to the deployment's internal gateway")
    func externalPortNotReused() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(gatewayPortRange: 50900...50939))
        let blueprint = """
            name: sava
            gateways:
              50900/http: web/web
            clusters:
              web:
                services:
                  - breed:
                      name: sava:1.0
                      deployable: {type: command, definition: "sava --text sava:1.0"}
                      ports: {web: 8080/http}
            """
        let stored = try await vamp.deploy(try DeploymentRequest.read(blueprint))
        let gateways = try await vamp.list(.gateway, page: PageRequest())
        #expect(stored.name == "sava")
        #expect(gateways.items.map(\.name).sorted() == ["sava/50900", "sava/web/web"])
        let clusterGateway = try #require(try await vamp.read(.gateway, name: "sava/web/web"))
        #expect(!String(decoding: clusterGateway.json, as: UTF8.self).contains("\"50900/http\""))
    }
}
