import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Where the real server's gateways listen and which ports they may not take (issue 22).
@Suite("vamp-server: gateway binding and reserved ports", .serialized)
struct GatewayBindingServerTests {
    static let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()

    @Test("a gateway on the server's own API port or on HAProxy's stats port is refused with 400 naming the port, its user and the setting")
    func reservedPortsRefused() async throws {
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            let own = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("mine", port: server.apiPort, backend: 9))
            #expect(own.status == 400)
            #expect(own.body.contains("gateway 'mine': port \(server.apiPort) is reserved for vamp-server's API (vamp.http-api.port)"), "\(own.body)")
            let stats = try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("stats", port: 1988, backend: 9))
            #expect(stats.status == 400)
            #expect(stats.body.contains("port 1988 is reserved for HAProxy's stats page"), "\(stats.body)")
            #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/gateways/mine").status == 404)
            #expect(FreePort.isAccepting(server.apiPort))
        }
    }

    @Test("the default gateway port range lies outside the kernel's ephemeral range; a range inside it gets a warning at start naming both ranges and the sysctl")
    func ephemeralRangeWarning() async throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let ephemeral = try #require(bounds.count == 2 ? bounds[0]...bounds[1] : nil, "ip_local_port_range: \(text)")
        #expect(!ephemeral.overlaps(61000...64999), "the default range 61000-64999 overlaps this machine's ephemeral range \(ephemeral)")

        let folder = try TemporaryDirectory(prefix: "vamp-server-ephemeral")
        defer { folder.remove() }
        let inside = "\(ephemeral.lowerBound + 100)-\(ephemeral.lowerBound + 199)"
        for (range, warned) in [(inside, true), ("61000-64999", false)] {
            let server = try ServerExecutableTests.start(
                folder, arguments: ["--port", "0"], environment: ProcessInfo.processInfo.environment.merging(["VAMP_OPERATION_GATEWAY_PORT_RANGE": range]) { _, new in new },
                log: "server-\(range).log")
            defer { server.stop() }
            try await waitUntil(timeout: .seconds(30), "the server serves\n\(server.logTail())") { server.logTail().contains("serving the API") }
            let log = server.logTail(maxBytes: 200_000)
            let warning = log.split(separator: "\n").first { $0.contains("ephemeral range") }
            #expect((warning != nil) == warned, "range \(range): \(warning ?? "no warning")")
            if warned {
                #expect(warning?.contains("ip_local_reserved_ports=\(inside)") == true && warning?.contains("61000-64999") == true, "\(warning ?? "")")
            }
        }
    }

    @Test("real server and HAProxy: a deployment's internal gateway answers on 127.0.0.1 only, its external gateway on the machine's address too")
    func internalGatewayOnLoopback() async throws {
        guard let address = MachineAddresses.nonLoopbackIPv4().first else {
            Issue.record("this test needs an IPv4 address outside 127.0.0.0/8 on the machine (hostname -I shows none)")
            return
        }
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let external = try FreePort.next()
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            let blueprint = """
                name: bound
                gateways:
                  \(external)/http: web/web
                clusters:
                  web:
                    services:
                      - breed:
                          name: bound:1.0
                          deployable: {type: command, definition: "sava --text bound:1.0"}
                          ports: {web: 8080/http}
                """
            let deployed = try await ServerExecutableTests.call(client, .POST, "\(api)/deployments", yaml: blueprint)
            #expect(deployed.status == 202, "\(deployed.body)")
            let gateway = try await ServerExecutableTests.call(client, .GET, "\(api)/gateways/bound/web/web")
            let internalPort = try #require(Self.port(in: gateway.body), "\(gateway.body)")
            try await waitUntil(timeout: .seconds(30), "the internal gateway on 127.0.0.1:\(internalPort)\n\(server.process.logTail())") {
                FreePort.isAccepting(internalPort) && FreePort.isAccepting(external)
            }
            #expect(!MachineAddresses.isAccepting(address, port: internalPort), "the internal gateway answers on \(address):\(internalPort)")
            #expect(MachineAddresses.isAccepting(address, port: external), "the external gateway does not answer on \(address):\(external)")
        }
    }

    @Test("real server and HAProxy: a gateway on a port another program holds is left out and named in /info; the others are served and updated; it is served once the port is free, with no new write")
    func busyPortLeftOutThenServed() async throws {
        let server = try await VampServerFixture(binaries: Self.bin)
        defer { server.tearDown() }
        let (held, good, moved) = (try FreePort.next(), try FreePort.next(), try FreePort.next())
        let holder = try #require(Self.listen(on: held), "cannot hold port \(held)")
        var holding = true
        defer { if holding { close(holder) } }
        try await ServerExecutableTests.withClient { client in
            let api = "\(server.host.absoluteString)/api/v1"
            #expect(try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("blocked", port: held, backend: 9)).status == 202)
            #expect(try await ServerExecutableTests.call(client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway("good", port: good, backend: 9)).status == 202)
            try await waitUntil(timeout: .seconds(20), "gateway good served, blocked named in /info\n\(server.process.logTail())") {
                let info = try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body
                return FreePort.isAccepting(good) && info.contains("\"left_out\":{\"blocked\"")
            }
            // The others are still changed: good moves to another port.
            #expect(try await ServerExecutableTests.call(client, .PUT, "\(api)/gateways/good", yaml: ServerExecutableTests.gateway("good", port: moved, backend: 9)).status == 202)
            try await waitUntil(timeout: .seconds(20), "gateway good moved to \(moved)") { FreePort.isAccepting(moved) && !FreePort.isAccepting(good) }
            // The program lets go of the port: the agent's retry serves the gateway, nobody writes anything.
            close(holder)
            holding = false
            try await waitUntil(timeout: .seconds(40), "gateway blocked served after its port was freed\n\(server.process.logTail())") {
                let info = try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body
                return FreePort.isAccepting(held) && !info.contains("\"blocked\"")
            }
        }
    }

    /// A listening socket on every IPv4 address and `port`, as another program would hold it; nil when it cannot bind.
    static func listen(on port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    @Test("a non-loopback vamp.gateway-driver.host with internal gateways on loopback, or a host name as bind address, stops the server naming the setting")
    func inconsistentSettingsStopTheServer() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-bind")
        defer { folder.remove() }
        for (environment, named) in [
            (["VAMP_GATEWAY_DRIVER_HOST": "192.0.2.10"], "vamp.gateway-driver.bind.internal (VAMP_GATEWAY_DRIVER_BIND_INTERNAL) is '127.0.0.1'"),
            (["VAMP_GATEWAY_DRIVER_BIND_INTERNAL": "10.1.2.3"], "vamp.gateway-driver.host (VAMP_GATEWAY_DRIVER_HOST) is '127.0.0.1'"),
            (["VAMP_GATEWAY_DRIVER_BIND_EXTERNAL": "localhost"], "vamp.gateway-driver.bind.external (VAMP_GATEWAY_DRIVER_BIND_EXTERNAL): 'localhost' is not an IPv4 or IPv6 address"),
            (["VAMP_GATEWAY_DRIVER_BIND_INTERNAL": "127.0.0.1:22 ssl"], "vamp.gateway-driver.bind.internal"),
        ] {
            let log = "\(environment.keys.first!)-\(environment.values.first!.filter(\.isLetter)).log"
            let server = try ServerExecutableTests.start(folder, arguments: ["--port", "0"], environment: environment, log: log)
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(environment)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(environment): \(server.logTail())")
        }
        // Every address, or the host's own address: the server starts.
        let port = try FreePort.next()
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: [
            "VAMP_GATEWAY_DRIVER_HOST": "192.0.2.10", "VAMP_GATEWAY_DRIVER_BIND_INTERNAL": "0.0.0.0",
        ], log: "accepted.log")
        defer { server.stop() }
        try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") { FreePort.isAccepting(port) }
    }

    /// The `port` of a gateway's JSON (`"port":"40001/http"` or a number).
    static func port(in json: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        if let number = object["port"] as? Int { return number }
        return (object["port"] as? String)?.split(separator: "/").first.flatMap { Int($0) }
    }
}
