import Testing
import VampDSL
import VampModel

/// Scripts written for Vamp 0.9.5 send `condition: ""` to mean "no condition" (reference §1.5);
/// every place a route's condition is read takes it so, and writing never produces it.
@Suite("An empty route condition is no condition")
struct EmptyConditionTests {
    static let gatewayForms: [String] = [
        #"condition: """#,
        #"condition: "  ""#,
        #"condition: {condition: ""}"#,
        #"condition: {definition: ""}"#,
    ]

    @Test("a gateway's route", arguments: gatewayForms)
    func gatewayRoute(form: String) throws {
        let yaml = "kind: gateway\nname: g\nport: 80\nroutes:\n  a:\n    weight: 100%\n    \(form)\n"
        let documents = try DSLReader.load(yaml)
        guard case .gateway(let gateway) = try #require(documents.first).artifact else {
            Issue.record("expected a gateway")
            return
        }
        #expect(gateway.routes.map(\.path) == ["a"])
        #expect(gateway.routes[0].condition == nil)
        #expect(gateway.routes[0].weight == Percentage(100))
    }

    @Test("a tcp gateway may carry an empty condition, since it is none")
    func tcpGateway() throws {
        let documents = try DSLReader.load("kind: gateway\nname: g\nport: 9000/tcp\nroutes:\n  a: {weight: 100%, condition: \"\"}\n")
        guard case .gateway(let gateway) = documents[0].artifact else { return }
        #expect(gateway.routes[0].condition == nil)
    }

    @Test("a stored route artifact")
    func routeArtifact() throws {
        let documents = try DSLReader.load("kind: route\nname: r\nweight: 50%\ncondition: {condition: \"\"}\n")
        guard case .route(let route) = documents[0].artifact else {
            Issue.record("expected a route")
            return
        }
        #expect(route.condition == nil)
    }

    @Test("a blueprint's gateways and its clusters' gateways")
    func blueprintRoutes() throws {
        let yaml = """
        kind: blueprint
        name: b
        gateways:
          9050/http:
            routes:
              web/web: {condition: ""}
        clusters:
          web:
            services:
              - breed: {name: w:1, deployable: acme/w:1, ports: {web: 80/http}}
            gateways:
              web:
                routes:
                  w:1: {weight: 100%, condition: {condition: ""}}
        """
        let documents = try DSLReader.load(yaml)
        guard case .blueprint(let blueprint) = documents[0].artifact else {
            Issue.record("expected a blueprint")
            return
        }
        #expect(blueprint.gateways[0].routes.map(\.condition) == [nil])
        #expect(blueprint.clusters[0].gateways[0].routes.map(\.condition) == [nil])
    }

    @Test("a condition that is not empty and does not parse is still refused with its line")
    func unparsableStillRefused() {
        #expect {
            _ = try DSLReader.load("kind: gateway\nname: g\nport: 80\nroutes:\n  a:\n    condition: {condition: \"user-agent ==\"}\n")
        } throws: { error in
            let found = (error as? VampErrors)?.errors ?? []
            return found.contains { $0.code == .condition && $0.path == "routes.a.condition" && $0.line == 6 }
        }
    }

    @Test("a non-empty condition and a reference are kept")
    func nonEmptyKept() throws {
        let documents = try DSLReader.load("kind: gateway\nname: g\nport: 80\nroutes:\n  a: {condition: \"has cookie beta\"}\n  b: {condition: {reference: beta}}\n")
        guard case .gateway(let gateway) = documents[0].artifact else { return }
        #expect(gateway.routes[0].condition == .inline(Condition(definition: "has cookie beta")))
        #expect(gateway.routes[1].condition == .reference("beta"))
    }

    @Test("writing back emits no empty condition, and what is written reads back the same")
    func writing() throws {
        let read = try DSLReader.load("kind: gateway\nname: g\nport: 80\nroutes:\n  a: {weight: 100%, condition: \"\"}\n")[0].artifact
        // A route built in code with an empty inline condition is written as none too.
        let built = Artifact.gateway(Gateway(
            name: "g", port: GatewayPort(number: 80),
            routes: [Route(path: "a", weight: Percentage(100), condition: .inline(Condition(definition: "")))]))
        for artifact in [read, built] {
            for text in [DSLWriter.yaml(artifact), DSLWriter.json(artifact)] {
                #expect(!text.contains(#"condition: """#) && !text.contains(#""condition": """#) && !text.contains(#""condition" : """#), "\(text)")
                let again = try DSLReader.load(text)[0].artifact
                guard case .gateway(let gateway) = again else { return }
                #expect(gateway.routes[0].condition == nil)
            }
        }
    }
}
