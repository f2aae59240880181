import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// The check of every write that changes gateways renders them all as served (issue 23), also the cluster gateways
/// whose services do not run yet; a gateway stored before the rules that refuse it does not hold back other writes.
@Suite("Gateway check: every gateway as served")
struct ServedGatewayCheckTests {
    static func gatewayYAML(_ name: String, port: Int) -> String {
        "kind: gateway\nname: \(name)\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:8080]\": {weight: 100%}\n"
    }

    @Test("a stored gateway that cannot be rendered (stored before these rules) does not hold back other gateways' writes")
    func legacyGatewayIsLeftOut() async throws {
        let store = InMemoryArtifactStore()
        // Written to the store directly, as an older server accepted it: its default virtual host `-x.vamp` is no
        // host name, so the generator refuses it.
        let legacy = Gateway(name: "-x", port: GatewayPort(number: 9100), routes: [Route(path: "[127.0.0.1:8080]", weight: Percentage(100))])
        _ = try await store.create(kind: "gateways", name: "-x", body: Data(DSLWriter.json(.gateway(legacy), pretty: false).utf8))
        let vamp = Vamp(artifacts: store)
        #expect(try await vamp.allGateways().map(\.name) == ["-x"])

        let stored = try await vamp.apply(try DSLReader.read(Self.gatewayYAML("fine", port: 9101)))
        #expect(stored.map(\.name) == ["fine"])
        // A write that breaks a gateway on its own is still refused.
        await #expect(throws: OperationError.self) {
            try await vamp.apply(try DSLReader.read("kind: gateway\nname: bad\nport: 9102/http\nroutes:\n  \"[127.0.0.1:8080]\":\n    condition: \"< path_reg x >\"\n"))
        }
    }

    @Test("a deployment whose cluster gateway would not render once its service runs is refused at once, also with validate_only")
    func clusterGatewayRenderedAsServed() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let blueprint = """
            name: shop
            clusters:
              web:
                services:
                  - breed: {name: web:1.0, deployable: x, ports: {web: 8080/http}}
                gateways:
                  web:
                    routes:
                      web:1.0: {condition: "has header \\"bad name\\""}

            """
        for validateOnly in [true, false] {
            do {
                _ = try await vamp.deploy(try DeploymentRequest.read(blueprint), validateOnly: validateOnly)
                Issue.record("accepted (validate_only \(validateOnly))")
            } catch {
                #expect("\(error)".contains("gateway 'shop/web/web'"), "\(error)")
                #expect("\(error)".contains("header or cookie name"), "\(error)")
            }
        }
        #expect(try await vamp.deployment(named: "shop") == nil)
    }
}
