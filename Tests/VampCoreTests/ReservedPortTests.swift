import Foundation
import Persistence
import Testing
import VampCore
import VampDSL
import VampModel

/// Ports the server, the agent or HAProxy's stats use: no gateway may take one (issue 22).
@Suite("Reserved ports")
struct ReservedPortTests {
    static let reserved: [Int: String] = [
        8080: "vamp-server's API (vamp.http-api.port)",
        1988: "HAProxy's stats page (127.0.0.1:1988 in the gateway agents' base configuration)",
    ]

    static func gateway(_ name: String, port: Int) -> Gateway {
        Gateway(name: name, port: GatewayPort(number: port), routes: [Route(path: "[127.0.0.1:9]", weight: Percentage(100))])
    }

    @Test("the check is a function of the gateway and the reserved set: the message names the port, its user and the setting")
    func pure() throws {
        let message = try #require(ReservedPorts.problem(of: Self.gateway("web", port: 8080), reserved: Self.reserved))
        #expect(message == "gateway 'web': port 8080 is reserved for vamp-server's API (vamp.http-api.port); give the gateway another port")
        #expect(ReservedPorts.problem(of: Self.gateway("web", port: 8081), reserved: Self.reserved) == nil)
        #expect(ReservedPorts.problem(of: Self.gateway("web", port: 0), reserved: [0: "nothing"]) == nil)
        #expect(ReservedPorts.problem(of: Self.gateway("web", port: 8080), reserved: [:]) == nil)
        #expect(throws: OperationError.self) { try ReservedPorts.check([Self.gateway("a", port: 1), Self.gateway("b", port: 1988)], reserved: Self.reserved) }
    }

    @Test("the allocator never hands out a reserved port, and says so when only reserved ports are left")
    func allocatorSkipsReserved() throws {
        var allocator = GatewayPortAllocator(range: 1987...1990, reserved: [1988, 1989])
        #expect(try allocator.allocate(avoiding: []) == 1987)
        #expect(try allocator.allocate(avoiding: []) == 1990)
        #expect(try allocator.allocate(avoiding: []) == 1987)
        do {
            _ = try allocator.allocate(avoiding: [1987, 1990])
            Issue.record("every free port is reserved")
        } catch {
            #expect(error.message.contains("in use or reserved"), "\(error)")
        }
    }

    @Test("a gateway posted on a reserved port is refused and nothing is stored; port 0 gets an unreserved port")
    func directGateway() async throws {
        let store = InMemoryArtifactStore()
        let vamp = Vamp(artifacts: store, configuration: .init(gatewayPortRange: 1987...1989, reservedPorts: Self.reserved))
        for port in [8080, 1988] {
            let documents = try DSLReader.read("kind: gateway\nname: g\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:9]\": {weight: 100%}\n")
            do {
                _ = try await vamp.apply(documents)
                Issue.record("port \(port) must be refused")
            } catch {
                #expect(error.code == .invalid)
                #expect(error.message.contains("port \(port) is reserved for \(Self.reserved[port]!)"), "\(error)")
            }
        }
        #expect(try await vamp.list(.gateway, page: PageRequest()).items.isEmpty)
        // Port 0: the range is 1987-1989 and 1988 is reserved.
        for name in ["a", "b"] {
            _ = try await vamp.apply(try DSLReader.read("kind: gateway\nname: \(name)\nport: 0/http\nroutes:\n  \"[127.0.0.1:9]\": {weight: 100%}\n"))
        }
        #expect(try await vamp.allGateways().map(\.port.number).sorted() == [1987, 1989])
    }

    @Test("a blueprint's gateway on a reserved port is refused at deploy; its internal gateways never get one")
    func blueprintGateway() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(gatewayPortRange: 1987...1990, reservedPorts: Self.reserved))
        func blueprint(port: Int) -> String {
            """
            name: sava
            gateways:
              \(port)/http: web/web
            clusters:
              web:
                services:
                  - breed:
                      name: sava:1.0
                      deployable: {type: command, definition: "sava --text sava:1.0"}
                      ports: {web: 8080/http}
            """
        }
        let request = try DeploymentRequest.read(blueprint(port: 1988))
        do {
            _ = try await vamp.deploy(request)
            Issue.record("port 1988 must be refused")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.message.contains("gateway 'sava/1988': port 1988 is reserved for HAProxy's stats page"), "\(error)")
        }
        #expect(try await vamp.deployment(named: "sava") == nil)
        _ = try await vamp.deploy(try DeploymentRequest.read(blueprint(port: 1990)))
        let ports = Dictionary(uniqueKeysWithValues: try await vamp.allGateways().map { ($0.name, $0.port.number) })
        #expect(ports == ["sava/1990": 1990, "sava/web/web": 1987])
    }
}
