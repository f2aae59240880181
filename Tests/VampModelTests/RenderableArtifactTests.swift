import Foundation
import Testing
import VampModel

/// What the validation refuses because HAProxy's configuration could not hold it (issue 23): names that become DNS
/// labels of the default virtual hosts, port numbers written with a sign or a leading zero, sizes past the documented
/// limits, and dependency cycles between clusters. Each error names the artifact, the field and the rule.
@Suite("Validation: only what can be rendered")
struct RenderableArtifactTests {
    static let hostile = ["-x", "x-", "-", "_", "..", "x_", ".x", "é", "café", "x:", "-sava:1.0"]

    static func breed(_ name: String, port: String = "web", number: Int = 8080, dependencies: [Dependency] = []) -> Breed {
        Breed(name: name, deployable: Deployable(definition: "acme/x"), ports: [BreedPort(name: port, number: number)], dependencies: dependencies)
    }

    static func blueprint(cluster: String = "web", port: String = "web", gateway: String? = nil) -> Blueprint {
        var blueprint = Blueprint(name: "shop", clusters: [Cluster(name: cluster, services: [Service(breed: .inline(breed("sava:1.0", port: port)))])])
        if let gateway {
            blueprint.gateways = [Gateway(name: gateway, port: GatewayPort(number: 9050), routes: [Route(path: "\(cluster)/\(port)")])]
        }
        return blueprint
    }

    func expectError(_ errors: [VampError], code: VampError.Code, path: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            errors.contains { $0.code == code && $0.path == path && $0.message.contains(fragment) },
            "expected \(code) at \(path) containing '\(fragment)', got: \(errors.map(\.description))", sourceLocation: sourceLocation)
    }

    // MARK: Names that become DNS labels

    @Test("Vamp's names stay valid: sava:1.0, shop_v2, a.b in the middle, digits, 63 characters")
    func documentedNamesStayValid() {
        for name in ["sava:1.0", "sava:1.0.0", "shop_v2", "a", "9", "web-1", String(repeating: "a", count: 63)] {
            #expect(Names.labelProblem(name) == nil, "\(name)")
        }
        #expect(Validation.validate(.blueprint(Self.blueprint(cluster: "web_1", port: "port-1", gateway: "entry:1"))).isEmpty)
        #expect(Validation.validate(.gateway(Gateway(name: "sava:1.0/9050", port: GatewayPort(number: 9050), routes: [Route(path: "[127.0.0.1:80]")]))).isEmpty)
        #expect(Names.virtualHostLabel("sava:1.0") == "sava-1-0")
        #expect(Names.virtualHostLabel("café") == "caf-")
    }

    @Test("a cluster name that cannot be a DNS label is refused at its field", arguments: hostile)
    func clusterNames(name: String) {
        // Names with '.' are trait-name errors already; the label rule adds no second error for them.
        let errors = Validation.validate(.blueprint(Self.blueprint(cluster: name)))
        #expect(errors.contains { $0.code == .illegalName && $0.path == "clusters.\(name)" && $0.kind == "blueprint" && $0.name == "shop" }, "\(errors)")
        if !name.contains(".") {
            expectError(errors, code: .illegalName, path: "clusters.\(name)", "illegal cluster name")
            expectError(errors, code: .illegalName, path: "clusters.\(name)", "start and end with a letter or digit")
        }
    }

    @Test("a port name that cannot be a DNS label is refused, in a breed and in a blueprint", arguments: hostile.filter { !$0.contains(".") })
    func portNames(name: String) {
        expectError(Validation.validate(.breed(Self.breed("a:1", port: name))), code: .illegalName, path: "ports.\(name)", "illegal port name")
        expectError(Validation.validate(.blueprint(Self.blueprint(port: name))), code: .illegalName, path: "clusters.web.services[0].breed.ports.\(name)", "illegal port name")
    }

    @Test("a named blueprint gateway and a standalone gateway's segments must be DNS labels", arguments: hostile)
    func gatewayNames(name: String) {
        expectError(Validation.validate(.blueprint(Self.blueprint(gateway: name))), code: .illegalName, path: "gateways.\(name)", "illegal gateway name")
        for gatewayName in [name, "shop/\(name)", "\(name)/9050"] {
            let errors = Validation.validate(.gateway(Gateway(name: gatewayName, port: GatewayPort(number: 9050), routes: [Route(path: "[127.0.0.1:80]")])))
            expectError(errors, code: .illegalName, path: "name", "illegal gateway name")
        }
        // Four segments get no default virtual host: only Vamp's gateway-name rules apply.
        #expect(Validation.validate(.gateway(Gateway(name: "a/b/c/\(name)", port: GatewayPort(number: 9050), routes: [Route(path: "[127.0.0.1:80]")]))).isEmpty)
    }

    @Test("a deployment name must be a DNS label; names of 64 characters are refused, 63 accepted")
    func deploymentNames() {
        for name in Self.hostile + [String(repeating: "a", count: 64)] {
            expectError(Validation.validate(.deployment(Deployment(name: name))), code: .illegalName, path: "name", "illegal deployment name")
        }
        #expect(Validation.validate(.deployment(Deployment(name: String(repeating: "a", count: 63)))).isEmpty)
        let long = String(repeating: "c", count: 64)
        expectError(Validation.validate(.blueprint(Self.blueprint(cluster: long))), code: .illegalName, path: "clusters.\(long)", "at most 63")
    }

    @Test("a name may not start with a combining accent: it would join the '/' before it and the path would not split")
    func joiningCharacters() {
        #expect(Names.artifactNameProblem("\u{301}abc")?.contains("joins a '/'") == true)
        #expect(Names.artifactNameProblem("ab\u{301}c") == nil, "inside a name it is harmless")
        #expect(Names.gatewayNameProblem("shop/\u{301}x")?.contains("joins a '/'") == true)
        let gateway = Gateway(name: "g", port: GatewayPort(number: 9050), routes: [Route(path: "shop/web/\u{301}s:1/web")])
        expectError(Validation.validate(.gateway(gateway)), code: .illegalName, path: "routes.shop/web/\u{301}s:1/web", "joins a '/'")
        expectError(Validation.validate(.breed(Self.breed("\u{301}a:1"))), code: .illegalName, path: "name", "joins a '/'")
    }

    // MARK: Ports

    @Test("a port is plain decimal digits 0-65535: no sign, no leading zero, no spaces", arguments: [
        ("9050", 9050), ("0", 0), ("65535", 65535), ("+9835", nil), ("09834", nil), ("-1", nil), ("65536", nil), ("00", nil),
        (" 80", nil), ("80 ", nil), ("", nil), ("0x50", nil), ("８０", nil), ("1e3", nil), ("999999", nil),
    ] as [(String, Int?)])
    func portNumbers(text: String, number: Int?) {
        #expect(BreedPort.parseNumber(text) == number)
        #expect(BreedPort.parseValue(text + "/http")?.number == number)
    }

    @Test("a breed port is 1-65535: port 0 is no port a service listens on")
    func breedPortZero() {
        expectError(Validation.validate(.breed(Self.breed("a:1", number: 0))), code: .invalidValue, path: "ports.web", "outside 1-65535")
        #expect(Validation.validate(.breed(Self.breed("a:1", number: 1))).isEmpty)
    }

    // MARK: Sizes

    @Test("a gateway has at most 100 routes: 100 pass, 101 are refused naming the limit")
    func routesPerGateway() {
        func gateway(_ count: Int) -> Gateway {
            Gateway(name: "g", port: GatewayPort(number: 9050), routes: (0..<count).map { Route(path: "[10.0.\($0 / 256).\($0 % 256):80]") })
        }
        #expect(Validation.validate(.gateway(gateway(Validation.Limits.routesPerGateway))).isEmpty)
        expectError(Validation.validate(.gateway(gateway(Validation.Limits.routesPerGateway + 1))), code: .limit, path: "routes", "at most 100")
        #expect(Validation.sizeErrors(of: gateway(101)).map(\.path) == ["routes"])
    }

    @Test("a cluster has at most 100 services (each is a route of its gateways)")
    func servicesPerCluster() {
        func blueprint(_ count: Int) -> Blueprint {
            Blueprint(name: "b", clusters: [Cluster(name: "web", services: (0..<count).map { Service(breed: .reference("s:\($0)")) })])
        }
        #expect(Validation.validate(.blueprint(blueprint(100))).isEmpty)
        expectError(Validation.validate(.blueprint(blueprint(101))), code: .limit, path: "clusters.web.services", "at most 100")
    }

    @Test("a gateway lists at most 64 virtual hosts")
    func virtualHostsPerGateway() {
        func gateway(_ count: Int) -> Gateway {
            Gateway(name: "g", port: GatewayPort(number: 9050), virtualHosts: (0..<count).map { "h\($0).example.test" }, routes: [Route(path: "[127.0.0.1:80]")])
        }
        #expect(Validation.validate(.gateway(gateway(64))).isEmpty)
        expectError(Validation.validate(.gateway(gateway(65))), code: .limit, path: "virtual_hosts", "at most 64")
    }

    @Test("a virtual host is at most 253 characters, its labels at most 63")
    func virtualHostLength() {
        let label = String(repeating: "a", count: 63)
        let host253 = [label, label, label, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(host253.utf8.count == 253)
        #expect(Validation.isHostName(host253))
        #expect(!Validation.isHostName(host253 + "b"))
        #expect(!Validation.isHostName(label + "a.test"))
    }

    @Test("a route has at most 16 rewrites; a condition at most 4096 characters")
    func rewritesAndConditions() {
        func route(rewrites: Int, condition: String? = nil) -> Gateway {
            Gateway(name: "g", port: GatewayPort(number: 9050), routes: [Route(
                path: "[127.0.0.1:80]", condition: condition.map { .inline(Condition(definition: $0)) },
                rewrites: Array(repeating: .inline(Rewrite(path: "/x", condition: "path_beg /y")), count: rewrites))])
        }
        #expect(Validation.validate(.gateway(route(rewrites: 16))).isEmpty)
        expectError(Validation.validate(.gateway(route(rewrites: 17))), code: .limit, path: "routes.[127.0.0.1:80].rewrites", "at most 16")
        let atLimit = "has cookie " + String(repeating: "c", count: 4096 - 11)
        #expect(Validation.validate(.gateway(route(rewrites: 0, condition: atLimit))).isEmpty)
        expectError(Validation.validate(.gateway(route(rewrites: 0, condition: atLimit + "c"))), code: .limit, path: "routes.[127.0.0.1:80].condition", "at most 4096")
    }

    @Test("a service runs at most 1000 instances; an escalation may scale to at most 1000")
    func instances() {
        func scale(_ instances: Int) -> Scale { Scale(cpu: CPU(cores: 1)!, memory: Memory(megabytes: 64)!, instances: instances) }
        #expect(Validation.validate(.scale(scale(1000))).isEmpty)
        expectError(Validation.validate(.scale(scale(1001))), code: .limit, path: "instances", "at most 1000")
        let escalation = Escalation(name: "e", definition: .scaleInstances(minimum: 1, maximum: 1001, scaleBy: 1, target: nil))
        expectError(Validation.validate(.escalation(escalation)), code: .limit, path: "maximum", "at most 1000")
    }

    // MARK: Dependency cycles

    @Test("services that depend on each other are a cycle, named step by step; a chain is not")
    func dependencyCycles() {
        let a = Self.breed("a:1", dependencies: [Dependency(alias: "b", breed: .reference("b:*"))])
        let b = Self.breed("b:1", dependencies: [Dependency(alias: "c", breed: .reference("c:1"))])
        let c = Self.breed("c:1", dependencies: [Dependency(alias: "a", breed: .reference("a:1"))])
        let cycle = Blueprint(name: "loop", clusters: [
            Cluster(name: "one", services: [Service(breed: .inline(a))]),
            Cluster(name: "two", services: [Service(breed: .inline(b))]),
            Cluster(name: "three", services: [Service(breed: .inline(c))]),
        ])
        let errors = Validation.validate(.blueprint(cycle)).filter { $0.message.contains("dependency cycle") }
        #expect(errors.count == 1, "\(errors)")
        expectError(errors, code: .invalidArtifact, path: "clusters.three.services[0].breed.dependencies.a",
                    "breed 'a:1' in cluster 'one' (dependency 'b') -> breed 'b:1' in cluster 'two' (dependency 'c') -> breed 'c:1' in cluster 'three' (dependency 'a') -> breed 'a:1'")

        var chain = cycle
        chain.clusters[2].services = [Service(breed: .inline(Self.breed("c:1")))]
        #expect(Validation.validate(.blueprint(chain)).isEmpty)
        // Clusters that depend on each other through different breeds are no cycle: b:1 runs first, then a:1, then c:2.
        let crossing = Blueprint(name: "crossing", clusters: [
            Cluster(name: "one", services: [Service(breed: .inline(Self.breed("a:1", dependencies: [Dependency(alias: "b", breed: .reference("b:1"))])))]),
            Cluster(name: "two", services: [
                Service(breed: .inline(Self.breed("b:1"))),
                Service(breed: .inline(Self.breed("c:2", dependencies: [Dependency(alias: "a", breed: .reference("a:1"))]))),
            ]),
        ])
        #expect(Validation.validate(.blueprint(crossing)).isEmpty)
        // Referenced breeds' dependencies are not known yet: only the deployment can tell.
        var referenced = cycle
        referenced.clusters[2].services = [Service(breed: .reference("c:1"))]
        #expect(!Validation.validate(.blueprint(referenced)).contains { $0.message.contains("dependency cycle") })
    }

    @Test("a deployment's live services are checked for cycles too (a merge can close one)")
    func deploymentCycles() {
        let status = ServiceStatus(intention: .deployment, since: .init(timeIntervalSince1970: 0), phase: .init(name: .initiated, since: .init(timeIntervalSince1970: 0)))
        func service(_ breed: Breed) -> DeploymentService {
            DeploymentService(status: status, breed: breed, scale: Scale(cpu: CPU(cores: 1)!, memory: Memory(megabytes: 64)!, instances: 1))
        }
        let deployment = Deployment(name: "d", clusters: [
            DeploymentCluster(name: "one", services: [service(Self.breed("a:1", dependencies: [Dependency(alias: "b", breed: .reference("b:1"))]))]),
            DeploymentCluster(name: "two", services: [service(Self.breed("b:1", dependencies: [Dependency(alias: "a", breed: .reference("a:1"))]))]),
        ])
        let errors = Validation.dependencyCycles(of: deployment)
        #expect(errors.count == 1)
        #expect(errors.first?.kind == "deployment" && errors.first?.name == "d")
        #expect(errors.first?.path == "clusters.two.services.b:1.breed.dependencies.a", "\(errors)")
    }
}
