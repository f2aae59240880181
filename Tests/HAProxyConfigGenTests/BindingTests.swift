import Foundation
import Testing
@testable import HAProxyConfigGen
import VampModel
import VampTesting

/// Internal gateways (cluster ports) and the virtual-hosts frontend bind the internal address, loopback by default;
/// external gateways the external one (issue 22).
@Suite("Bind addresses", .serialized)
struct BindingTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// An internal gateway (a cluster port), an external one routing to it, with a virtual host.
    static func gateways(internalPort: Int, externalPort: Int, backend: Int) -> [Gateway] {
        [
            Gateway(name: "shop/web/web", port: GatewayPort(number: internalPort), routes: [
                Fixtures.route("shop/web/catalog:1.0/web", weight: 100, targets: [Fixtures.target("shop_web_1", port: backend)]),
            ]),
            Gateway(name: "shop/9050", port: GatewayPort(number: externalPort), virtualHosts: ["shop.example.test"], routes: [
                Fixtures.route("shop/web/web", weight: 100, targets: [Fixtures.target("shop/web/web", port: internalPort)]),
            ]),
        ]
    }

    static func bindLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("  bind ") && !$0.contains("unix@") }
    }

    @Test("defaults: internal gateways and the virtual-hosts frontend on 127.0.0.1, external ones on 0.0.0.0 (golden binding.cfg)")
    func defaults() throws {
        let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-sockets", virtualHostsPort: 18000))
        let text = try generator.render(Self.gateways(internalPort: 40001, externalPort: 19050, backend: 31001))
        #expect(Self.bindLines(text) == ["  bind 0.0.0.0:19050", "  bind 127.0.0.1:40001", "  bind 127.0.0.1:18000"])
        // The virtual host's backend reaches the external gateway bound on every address through loopback.
        #expect(text.contains(" 127.0.0.1:19050\n"), "\(text)")
        let file = Self.goldenDirectory.appendingPathComponent("binding.cfg")
        if ProcessInfo.processInfo.environment["VAMP_RECORD_GOLDEN"] == "1" {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(text == (try String(contentsOf: file, encoding: .utf8)), "binding.cfg differs; re-record with VAMP_RECORD_GOLDEN=1 if intended")
    }

    @Test("IPv6 addresses are bracketed, and haproxy -c accepts them", arguments: [("::", "::1"), ("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.2")])
    func addresses(external: String, internalAddress: String) async throws {
        let generator = HAProxyConfigurationGenerator(options: .init(
            bindAddress: external, internalBindAddress: internalAddress, socketDirectory: "/tmp/vamp-sockets", virtualHostsPort: 18000))
        let text = try generator.render(Self.gateways(internalPort: 40001, externalPort: 19050, backend: 31001))
        func endpoint(_ address: String, _ port: Int) -> String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
        #expect(Self.bindLines(text) == ["  bind \(endpoint(external, 19050))", "  bind \(endpoint(internalAddress, 40001))", "  bind \(endpoint(internalAddress, 18000))"])
        let result = try await HAProxyServer.check(try Fixtures.base() + text)
        #expect(result.valid, "\(result.output)\n\(text)")
    }

    @Test("a bind address that is not an IP literal is refused: host names, ports, directives, wildcards other than 0.0.0.0 and ::")
    func refused() throws {
        for address in ["localhost", "example.com", "0.0.0.0:1", "127.0.0.1\n  bind *:22", "127.0.0.1 ssl", "*", "", "1.2.3", "256.0.0.1", "::1%lo", "[::1]"] {
            for options in [
                HAProxyConfigurationGenerator.Options(bindAddress: address),
                HAProxyConfigurationGenerator.Options(internalBindAddress: address),
            ] {
                #expect(throws: HAProxyConfigError.self, "\(address.debugDescription)") {
                    try HAProxyConfigurationGenerator(options: options).render(Self.gateways(internalPort: 40001, externalPort: 19050, backend: 1))
                }
            }
            #expect(!HAProxyConfigurationGenerator.Options.isValidBindAddress(address))
        }
        for address in ["0.0.0.0", "127.0.0.1", "192.0.2.10", "::", "::1", "fd00::2"] {
            #expect(HAProxyConfigurationGenerator.Options.isValidBindAddress(address), "\(address)")
        }
    }

    @Test("real HAProxy: an internal gateway answers on 127.0.0.1 but not on the machine's other address; an external one answers on both")
    func liveBinding() async throws {
        guard let address = MachineAddresses.nonLoopbackIPv4().first else {
            Issue.record("this test needs an IPv4 address outside 127.0.0.0/8 on the machine (hostname -I shows none)")
            return
        }
        let service = try TestHTTPService(name: "catalog")
        let (internalPort, externalPort, virtualHostsPort) = try (FreePort.next(), FreePort.next(), FreePort.next())
        let directory = try HAProxyServer.makeDirectory()
        let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: directory.url.path + "/run", virtualHostsPort: virtualHostsPort))
        let text = try Fixtures.base() + generator.render(Self.gateways(internalPort: internalPort, externalPort: externalPort, backend: service.port))
        let haproxy = try await HAProxyServer(configuration: text, directory: directory)
        defer { haproxy.stop() }
        try await haproxy.waitUntilListening([internalPort, externalPort, virtualHostsPort])

        #expect(try HTTPProbe.get(port: internalPort).header("X-Served-By") == "catalog")
        #expect(try HTTPProbe.get(port: externalPort).header("X-Served-By") == "catalog")
        #expect(try HTTPProbe.get(port: virtualHostsPort, host: "shop.example.test").header("X-Served-By") == "catalog")
        #expect(!MachineAddresses.isAccepting(address, port: internalPort), "the internal gateway answers on \(address):\(internalPort)")
        #expect(!MachineAddresses.isAccepting(address, port: virtualHostsPort), "the virtual-hosts frontend answers on \(address):\(virtualHostsPort)")
        #expect(MachineAddresses.isAccepting(address, port: externalPort), "the external gateway does not answer on \(address):\(externalPort)")
    }
}
