import Foundation
import HAProxyConfigGen
import Testing
import VampCore
import VampModel
import VampTesting

/// Issue 23: a deployment named `-x` was accepted, and once its service was up no gateway could be rendered any
/// more ("the virtual host 'web.web.-x.vamp' is not a host name"). The property: whatever names the validation
/// accepts (deployment, cluster, port, breed, blueprint gateway and standalone gateway names), the gateways they
/// make render with the real generator once every service runs, and HAProxy accepts a sample of the texts.
@Suite("Property: every accepted name renders")
struct RenderableNamesPropertyTests {
    /// A fixed seed, so that a failure is found again by the next run.
    typealias Random = SeededRandom

    /// The names of the issue, Vamp's own, and the edges of the rules: lengths 63/64, Unicode, a combining accent.
    static let fixed = [
        "-x", "x-", "-", "_", "..", "sava:1.0", "sava:1.0.0", "x", "9", "Ab", "café", "ça", "a\u{301}", "a..b", "x_",
        "#x", "a'b", "web", "shop_v2", String(repeating: "a", count: 63), String(repeating: "a", count: 64),
        "a" + String(repeating: "é", count: 61) + "z", "a" + String(repeating: "é", count: 62) + "z", "中文", "a中b", "x😀y",
    ]
    static let pieces = [
        "a", "b", "z", "A", "Q", "0", "9", "-", "_", ".", ":", "é", "ü", "中", "😀", "\u{301}", " ", "/", "[", "*", "$", "#",
        "'", "\"", "%", "\n", "\t", "x", "y", "1", "2",
    ]

    static let letters = ["a", "z", "A", "Q", "0", "9", "x", "1"]

    /// A quarter the fixed names, the rest built of pieces: most of them near the rule (letters and digits at the
    /// ends, anything Vamp allows between, sometimes 55-70 characters long), the others of any piece at all.
    static func name(_ random: inout Random) -> String {
        let kind = random.below(20)
        if kind < 5 { return random.pick(fixed) }
        let length = random.below(8) == 0 ? 55 + random.below(16) : 1 + random.below(8)
        let middle = (0..<length).map { _ in random.pick(kind < 15 ? letters + ["-", "_", ".", ":", "é", "中", "😀", "\u{301}"] : pieces) }
        guard kind < 15 else { return middle.joined() }
        return ([random.pick(letters)] + middle.dropFirst().dropLast() + (length > 1 ? [random.pick(letters)] : [])).joined()
    }

    struct Outcome {
        var accepted = 0
        var refused = 0
        var texts: [String] = []
    }

    static let now = Date(timeIntervalSince1970: 0)

    /// The deployment's gateways once its one service runs an instance: every gateway served.
    static func renderDeployment(_ blueprint: Blueprint, name: String, port: String) throws -> GatewayConfiguration {
        var allocator = GatewayPortAllocator(range: 40000...45000)
        let change = try DeploymentOperations.deploy(
            blueprint, name: name, existing: nil, gateways: [], deployments: [], inlineBreeds: [], now: now,
            options: DeploymentPlanning.Options(), allocator: &allocator, requestBody: "")
        var deployment = try #require(change.deployment)
        for cluster in deployment.clusters.indices {
            for service in deployment.clusters[cluster].services.indices {
                deployment.clusters[cluster].services[service].instances = [
                    Instance(name: "i", host: "127.0.0.1", ports: [port: 31000], deployed: true),
                ]
            }
        }
        var ports = GatewayPortAllocator(range: 40000...45000)
        let resolved = try GatewayResolution.resolve(change.gateways, deployments: [deployment], allocator: &ports)
        #expect(resolved.allSatisfy { $0.deployed == true }, "every gateway of a running service is served: \(resolved.map(\.name))")
        return try strict(GatewayConfiguration.render(resolved))
    }

    /// The configuration, or an error naming the gateways the generator left out.
    static func strict(_ configuration: GatewayConfiguration) throws -> GatewayConfiguration {
        guard configuration.excluded.isEmpty else {
            throw GatewayPlanningError(code: .invalidGateway, gateway: configuration.excluded.keys.sorted().first, message: "\(configuration.excluded)")
        }
        return configuration
    }

    @Test("random names (fixed seed): accepted ones render, and haproxy -c accepts a sample")
    func acceptedNamesRender() async throws {
        var random = Random(seed: 23)
        var outcome = Outcome()
        for iteration in 0..<600 {
            let (deploymentName, clusterName, portName, breedName) = (Self.name(&random), Self.name(&random), Self.name(&random), Self.name(&random))
            let gatewayKey = random.below(2) == 0 ? "9050/http" : Self.name(&random)
            let breed = Breed(name: breedName, deployable: Deployable(definition: "acme/x"), ports: [BreedPort(name: portName, number: 8080)])
            let blueprint = Blueprint(
                name: "b",
                gateways: [Gateway(name: gatewayKey, port: GatewayPort(number: 9050), routes: [Route(path: "\(clusterName)/\(portName)")])],
                clusters: [Cluster(name: clusterName, services: [Service(breed: .inline(breed))])])
            let errors = Validation.validate(.blueprint(blueprint)) + Validation.validate(.deployment(Deployment(name: deploymentName)))
            let names = "deployment '\(deploymentName)', cluster '\(clusterName)', port '\(portName)', breed '\(breedName)', gateway '\(gatewayKey)'"
            if errors.isEmpty {
                outcome.accepted += 1
                do {
                    let configuration = try Self.renderDeployment(blueprint, name: deploymentName, port: portName)
                    if outcome.accepted % 20 == 1 { outcome.texts.append(configuration.text) }
                } catch {
                    Issue.record("accepted \(names), but its gateways do not render: \(error)")
                }
            } else {
                outcome.refused += 1
                #expect(errors.allSatisfy { $0.path != nil && $0.kind != nil }, "every error names its field: \(errors)")
            }

            // A standalone gateway of one to three segments.
            let segments = (0...random.below(3)).map { _ in Self.name(&random) }
            let gateway = Gateway(name: segments.joined(separator: "/"), port: GatewayPort(number: 9060), routes: [Route(path: "[127.0.0.1:8080]")])
            if Validation.validate(.gateway(gateway)).isEmpty {
                outcome.accepted += 1
                var ports = GatewayPortAllocator(range: 40000...45000)
                do {
                    let text = try Self.strict(GatewayConfiguration.render(try GatewayResolution.resolve([gateway], deployments: [], allocator: &ports))).text
                    if iteration % 40 == 0 { outcome.texts.append(text) }
                } catch {
                    Issue.record("accepted gateway '\(gateway.name)', but it does not render: \(error)")
                }
            } else {
                outcome.refused += 1
            }
        }
        // Both sides of the rule were exercised, and the seed gives a sample worth checking.
        #expect(outcome.accepted > 100 && outcome.refused > 100, "accepted \(outcome.accepted), refused \(outcome.refused)")
        #expect(outcome.texts.count >= 10)
        let base = try HAProxyBaseConfiguration().render()
        for text in outcome.texts {
            let check = try await HAProxyServer.check(base + text)
            #expect(check.valid, "\(check.output)\n\(text)")
        }
    }

    @Test("the hostile names of the issue are refused before they reach a gateway, with the field named")
    func issueNames() {
        for name in ["-x", "x-", "-", "_", ".."] {
            let errors = Validation.validate(.deployment(Deployment(name: name)))
            #expect(errors.contains { $0.code == .illegalName && $0.path == "name" && $0.kind == "deployment" }, "\(name): \(errors)")
            // What the generator says when such a name is not refused first.
            let gateway = Gateway(name: "\(name)/web/web", port: GatewayPort(number: 40000), routes: [Route(path: "[127.0.0.1:8080]")])
            var ports = GatewayPortAllocator(range: 40000...45000)
            #expect(throws: GatewayPlanningError.self, "\(name)") {
                try Self.strict(GatewayConfiguration.render(try GatewayResolution.resolve([gateway], deployments: [], allocator: &ports)))
            }
        }
    }
}
