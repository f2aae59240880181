import Foundation
import HAProxyConfigGen
import Testing
import VampCore
import VampModel

@Suite("Gateway planning: ports, targets, deployed flags, virtual hosts")
struct GatewayPlanningTests {
    static func route(_ path: String, _ weight: Int? = nil) -> Route { Route(path: path, weight: weight.flatMap(Percentage.init)) }

    static func service(_ breed: String, instances: [Instance]) -> DeploymentService {
        let now = Date(timeIntervalSince1970: 0)
        return DeploymentService(
            status: ServiceStatus(intention: .deployment, since: now, phase: .init(name: .done, since: now)),
            breed: Breed(name: breed, deployable: Deployable(definition: "x")), scale: Scale(cpu: CPU(cores: 0.1)!, memory: Memory(megabytes: 64)!, instances: instances.count),
            instances: instances)
    }

    @Test("the allocator skips used ports, moves forward past a freed port and wraps at the end")
    func allocator() throws {
        var allocator = GatewayPortAllocator(range: 40000...40003)
        #expect(try allocator.allocate(avoiding: [40000]) == 40001)
        #expect(try allocator.allocate(avoiding: [40000, 40001]) == 40002)
        // 40001 was freed (not in `used` any more), but the cursor moved on: it is not handed out again at once.
        #expect(try allocator.allocate(avoiding: [40000, 40002]) == 40003)
        #expect(try allocator.allocate(avoiding: [40000, 40002, 40003]) == 40001)
        #expect(throws: GatewayPlanningError.self) { try allocator.allocate(avoiding: Set(40000...40003)) }
        do {
            _ = try allocator.allocate(avoiding: Set(40000...40003))
        } catch {
            #expect(error.code == .portRangeExhausted)
            #expect(error.message.contains("40000-40003"))
        }
    }

    @Test("two gateways on one port are refused, naming both")
    func portConflict() {
        var allocator = GatewayPortAllocator()
        let gateways = [
            Gateway(name: "a", port: GatewayPort(number: 9050), routes: [Self.route("[127.0.0.1:1]")]),
            Gateway(name: "b", port: GatewayPort(number: 9050), routes: [Self.route("[127.0.0.1:2]")]),
        ]
        do {
            _ = try GatewayResolution.resolve(gateways, deployments: [], allocator: &allocator)
            Issue.record("a port conflict was accepted")
        } catch {
            #expect(error.code == .portConflict)
            #expect(error.gateway == "b")
            #expect(error.message.contains("'a'"))
        }
    }

    @Test("route targets: instances of a service, the port of another gateway, an external address")
    func targets() throws {
        let deployment = Deployment(name: "shop", clusters: [
            DeploymentCluster(name: "web", services: [
                Self.service("web:1.0", instances: [
                    Instance(name: "web-1", host: "10.0.0.1", ports: ["port": 31001], deployed: true),
                    Instance(name: "web-2", host: "10.0.0.2", ports: ["port": 31002], deployed: true),
                    Instance(name: "web-3", host: "10.0.0.3", ports: ["port": 31003], deployed: false),
                ]),
            ]),
        ])
        let gateways = [
            Gateway(name: "shop/web/port", port: GatewayPort(number: 0), routes: [Self.route("shop/web/web:1.0/port", 100)]),
            Gateway(name: "shop/9050", port: GatewayPort(number: 9050), routes: [Self.route("shop/web/port", 100)]),
            Gateway(name: "entry", port: GatewayPort(number: 9060), routes: [Self.route("shop/9050", 50), Self.route("[192.0.2.1:80]", 50)]),
        ]
        var allocator = GatewayPortAllocator(range: 40000...45000)
        let resolved = try GatewayResolution.resolve(gateways, deployments: [deployment], allocator: &allocator, options: .init(defaultVirtualHosts: false))

        #expect(resolved.map(\.name) == ["entry", "shop/9050", "shop/web/port"])
        let entry = resolved[0], external = resolved[1], clusterGateway = resolved[2]
        #expect(clusterGateway.port.number == 40000)
        #expect(clusterGateway.routes[0].targets == [
            .instance(name: "web-1", host: "10.0.0.1", port: 31001), .instance(name: "web-2", host: "10.0.0.2", port: 31002),
        ])
        #expect(external.routes[0].targets == [.instance(name: "shop/web/port", host: "127.0.0.1", port: 40000)])
        #expect(entry.routes[0].targets == [.instance(name: "shop/9050", host: "127.0.0.1", port: 9050)])
        #expect(entry.routes[1].targets == [.url("192.0.2.1:80")])
        #expect(resolved.allSatisfy { $0.deployed == true })
    }

    @Test("an internal gateway with a route that has no targets is not deployed and is left out of the text")
    func undeployedInternalGateway() throws {
        let gateways = [
            Gateway(name: "shop/web/port", port: GatewayPort(number: 0), routes: [Self.route("shop/web/web:1.0/port", 100)]),
            Gateway(name: "shop/9050", port: GatewayPort(number: 9050), routes: [Self.route("shop/web/port", 100)]),
        ]
        var allocator = GatewayPortAllocator()
        let resolved = try GatewayResolution.resolve(gateways, deployments: [], allocator: &allocator)
        #expect(resolved.first { $0.name == "shop/web/port" }?.deployed == false)
        #expect(resolved.first { $0.name == "shop/9050" }?.deployed == true)
        let configuration = GatewayConfiguration.render(resolved)
        #expect(configuration.servedGateways == ["shop/9050"])
        #expect(configuration.text.contains("# gateway shop/9050"))
        #expect(!configuration.text.contains("# gateway shop/web/port"))
    }

    @Test("default virtual hosts follow Vamp's naming, only on http gateways, and keep the user's")
    func virtualHosts() throws {
        let gateways = [
            Gateway(name: "my_gw", port: GatewayPort(number: 9001), virtualHosts: ["shop.example.test"], routes: [Self.route("[127.0.0.1:1]")]),
            Gateway(name: "shop/9050", port: GatewayPort(number: 9050), routes: [Self.route("[127.0.0.1:2]")]),
            Gateway(name: "shop/web.tier/port", port: GatewayPort(number: 9052), routes: [Self.route("[127.0.0.1:3]")]),
            Gateway(name: "db/5432", port: GatewayPort(number: 5432, type: .tcp), routes: [Self.route("[127.0.0.1:4]")]),
        ]
        var allocator = GatewayPortAllocator()
        let resolved = try GatewayResolution.resolve(gateways, deployments: [], allocator: &allocator)
        let hosts = Dictionary(uniqueKeysWithValues: resolved.map { ($0.name, $0.virtualHosts) })
        #expect(hosts["my_gw"] == ["shop.example.test", "my-gw.vamp"])
        #expect(hosts["shop/9050"] == ["9050.shop.vamp"])
        #expect(hosts["shop/web.tier/port"] == ["port.web-tier.shop.vamp"])
        #expect(hosts["db/5432"] == [])
        // The generator accepts what the resolution produced.
        let configuration = GatewayConfiguration.render(resolved)
        #expect(configuration.text.contains("9050.shop.vamp"))
    }

    @Test("a gateway the generator refuses is left out with why, and every other gateway is still rendered; an unchanged text needs no write")
    func refusedAndUnchanged() throws {
        var allocator = GatewayPortAllocator()
        let gateways = [
            Gateway(name: "bad", port: GatewayPort(number: 9050), routes: [
                Route(path: "[127.0.0.1:1]", weight: Percentage(60)), Route(path: "[127.0.0.1:2]", weight: Percentage(60)),
            ]),
            Gateway(name: "good", port: GatewayPort(number: 9051), routes: [Self.route("[127.0.0.1:1]", 100)]),
            Gateway(name: "zzz", port: GatewayPort(number: 9052), routes: [Self.route("[127.0.0.1:3]", 100)]),
        ]
        let resolved = try GatewayResolution.resolve(gateways, deployments: [], allocator: &allocator)
        let mixed = GatewayConfiguration.render(resolved)
        #expect(mixed.servedGateways == ["good", "zzz"])
        #expect(mixed.excluded.keys.sorted() == ["bad"])
        #expect(mixed.excluded["bad"]?.contains("100%") == true, "\(mixed.excluded)")
        #expect(mixed.text.contains("# gateway good") && mixed.text.contains("# gateway zzz") && !mixed.text.contains("# gateway bad"))
        // The same text as without the bad gateway at all: the others are untouched by it.
        #expect(mixed.text == GatewayConfiguration.render(resolved.filter { $0.name != "bad" }).text)

        let good = try GatewayResolution.resolve(
            [Gateway(name: "good", port: GatewayPort(number: 9051), routes: [Self.route("[127.0.0.1:1]", 100)])],
            deployments: [], allocator: &allocator)
        let configuration = GatewayConfiguration.render(good)
        #expect(configuration.excluded.isEmpty)
        #expect(configuration.needsWrite(over: nil))
        #expect(configuration.needsWrite(over: configuration.text + " "))
        #expect(!configuration.needsWrite(over: configuration.text))
    }
}
