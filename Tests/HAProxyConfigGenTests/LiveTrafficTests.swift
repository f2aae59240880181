import Foundation
import Testing
import HAProxyConfigGen
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// Real traffic through a real HAProxy 2.6 (Debian `haproxy`) running the generated
/// configuration, to real HTTP services on loopback that answer with their own name.
@Suite("Live traffic through HAProxy", .serialized)
struct LiveTrafficTests {
    /// A running HAProxy with the given gateways, and the services behind it.
    final class Lab {
        let haproxy: HAProxyServer
        let generator: HAProxyConfigurationGenerator
        let virtualHostsPort: Int
        let basePrefix: String

        init(_ gateways: [Gateway], logPort: Int? = nil) async throws {
            let directory = try HAProxyServer.makeDirectory()
            virtualHostsPort = try FreePort.next()
            generator = HAProxyConfigurationGenerator(options: .init(
                bindAddress: "127.0.0.1", socketDirectory: directory.url.path + "/run", virtualHostsPort: virtualHostsPort))
            basePrefix = try Fixtures.base(logPort: logPort)
            haproxy = try await HAProxyServer(configuration: basePrefix + generator.render(gateways), directory: directory)
            try await haproxy.waitUntilListening(gateways.map(\.port.number) + (gateways.contains { !$0.virtualHosts.isEmpty } ? [virtualHostsPort] : []))
        }

        func reload(_ gateways: [Gateway]) async throws {
            try await haproxy.reload(basePrefix + generator.render(gateways))
        }
    }

    func services(_ names: String...) throws -> [TestHTTPService] { try names.map { try TestHTTPService(name: $0) } }

    func count(_ responses: [HTTPProbeResponse]) -> [String: Int] {
        responses.reduce(into: [:]) { $0[$1.header("X-Served-By") ?? "status \($1.status)", default: 0] += 1 }
    }

    @Test("1,000 requests over a 90/10 split land 900/100")
    func weightedSplit() async throws {
        let (stable, canary) = try (TestHTTPService(name: "stable"), TestHTTPService(name: "canary"))
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "shop", port: GatewayPort(number: port), routes: [
            Fixtures.route("shop/web/v1/web", weight: 90, targets: [Fixtures.target("v1", port: stable.port)]),
            Fixtures.route("shop/web/v2/web", weight: 10, targets: [Fixtures.target("v2", port: canary.port)]),
        ])])
        let responses = try (0..<1000).map { _ in try HTTPProbe.get(port: port) }
        let counts = count(responses)
        #expect(abs((counts["stable"] ?? 0) - 900) <= 10, "\(counts)")
        #expect(abs((counts["canary"] ?? 0) - 100) <= 10, "\(counts)")
        _ = lab
    }

    @Test("a header condition with strength 100% sends every matching request to the canary, 50% half of them")
    func conditionStrength() async throws {
        let (stable, canary) = try (TestHTTPService(name: "stable"), TestHTTPService(name: "canary"))
        let port = try FreePort.next()
        func gateway(strength: Int) -> Gateway {
            Gateway(name: "shop", port: GatewayPort(number: port), routes: [
                Fixtures.route("v1", weight: 100, targets: [Fixtures.target("v1", port: stable.port)]),
                Fixtures.route("v2", weight: 0, condition: "has header X-Canary", strength: strength, targets: [Fixtures.target("v2", port: canary.port)]),
            ])
        }
        let lab = try await Lab([gateway(strength: 100)])
        let matching = count(try (0..<100).map { _ in try HTTPProbe.get(port: port, headers: ["X-Canary": "1"]) })
        #expect(matching == ["canary": 100], "\(matching)")
        let plain = count(try (0..<100).map { _ in try HTTPProbe.get(port: port) })
        #expect(plain == ["stable": 100], "\(plain)")

        try await lab.reload([gateway(strength: 50)])
        let half = count(try (0..<200).map { _ in try HTTPProbe.get(port: port, headers: ["X-Canary": "1"]) })
        #expect(abs((half["canary"] ?? 0) - 100) <= 4, "\(half)")
        #expect(abs((half["stable"] ?? 0) - 100) <= 4, "\(half)")
    }

    @Test("a Firefox user with a beta cookie reaches the canary; others do not")
    func combinedCondition() async throws {
        let (stable, canary) = try (TestHTTPService(name: "stable"), TestHTTPService(name: "canary"))
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "shop", port: GatewayPort(number: port), routes: [
            Fixtures.route("v1", weight: 100, targets: [Fixtures.target("v1", port: stable.port)]),
            Fixtures.route("v2", weight: 0, condition: "user-agent == Firefox and cookie group has beta", targets: [Fixtures.target("v2", port: canary.port)]),
        ])])
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
        #expect(try HTTPProbe.get(port: port, headers: ["User-Agent": firefox, "Cookie": "group=beta-testers"]).header("X-Served-By") == "canary")
        #expect(try HTTPProbe.get(port: port, headers: ["User-Agent": firefox, "Cookie": "group=regular"]).header("X-Served-By") == "stable")
        #expect(try HTTPProbe.get(port: port, headers: ["User-Agent": "curl/8.0", "Cookie": "group=beta"]).header("X-Served-By") == "stable")
        _ = lab
    }

    @Test("sticky: route keeps a client on its route while the weights change")
    func stickyRoute() async throws {
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let port = try FreePort.next()
        func gateway(_ wa: Int, _ wb: Int) -> Gateway {
            Gateway(name: "shop", port: GatewayPort(number: port), sticky: .route, routes: [
                Fixtures.route("a", weight: wa, targets: [Fixtures.target("a", port: a.port)]),
                Fixtures.route("b", weight: wb, targets: [Fixtures.target("b", port: b.port)]),
            ])
        }
        let lab = try await Lab([gateway(100, 0)])
        let first = try HTTPProbe.get(port: port)
        #expect(first.header("X-Served-By") == "a")
        let cookies = first.headers("Set-Cookie").map { $0.split(separator: ";")[0] }.joined(separator: "; ")
        #expect(!cookies.isEmpty, "no sticky cookie in \(first.headers)")

        try await lab.reload([gateway(0, 100)])
        for _ in 0..<20 {
            #expect(try HTTPProbe.get(port: port, headers: ["Cookie": cookies]).header("X-Served-By") == "a")
        }
        #expect(try HTTPProbe.get(port: port).header("X-Served-By") == "b")
    }

    @Test("sticky with a condition at 50% strength: every client stays where its first request went")
    func stickyWithConditionStrength() async throws {
        let (a, b) = try (TestHTTPService(name: "a"), TestHTTPService(name: "b"))
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "shop", port: GatewayPort(number: port), sticky: .route, routes: [
            Fixtures.route("a", weight: 100, targets: [Fixtures.target("a", port: a.port)]),
            Fixtures.route("b", weight: 0, condition: "header X-Beta has yes", strength: 50, targets: [Fixtures.target("b", port: b.port)]),
        ])])
        _ = lab
        var firstServed: [String: Int] = [:]
        for _ in 0..<30 {
            let first = try HTTPProbe.get(port: port, headers: ["X-Beta": "yes"])
            let served = try #require(first.header("X-Served-By"))
            firstServed[served, default: 0] += 1
            let cookies = first.headers("Set-Cookie").map { $0.split(separator: ";")[0] }.joined(separator: "; ")
            #expect(!cookies.isEmpty, "no sticky cookie for a client first served by \(served)")
            for _ in 0..<8 {
                let next = try HTTPProbe.get(port: port, headers: ["X-Beta": "yes", "Cookie": cookies])
                #expect(next.header("X-Served-By") == served, "a client first served by \(served) moved")
            }
        }
        // About half of the new matching clients go to the canary, the rest to the weighted split.
        #expect((5...25).contains(firstServed["b", default: 0]), "\(firstServed)")
        #expect((5...25).contains(firstServed["a", default: 0]), "\(firstServed)")
    }

    @Test("sticky: instance keeps a client on its instance")
    func stickyInstance() async throws {
        let instances = try services("i1", "i2", "i3")
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "shop", port: GatewayPort(number: port), sticky: .instance, routes: [
            Fixtures.route("web", weight: 100, targets: instances.map { Fixtures.target($0.name, port: $0.port) }),
        ])])
        let first = try HTTPProbe.get(port: port)
        let cookies = first.headers("Set-Cookie").map { $0.split(separator: ";")[0] }.joined(separator: "; ")
        let served = try (0..<15).map { _ in try HTTPProbe.get(port: port, headers: ["Cookie": cookies]).header("X-Served-By") }
        #expect(Set(served) == [first.header("X-Served-By")], "\(served)")
        let spread = Set(try (0..<15).map { _ in try HTTPProbe.get(port: port).header("X-Served-By") })
        #expect(spread.count == 3, "without the cookie requests spread over all instances: \(spread)")
        _ = lab
    }

    @Test("a virtual host routes by Host to the right gateway")
    func virtualHosts() async throws {
        let (shop, blog) = try (TestHTTPService(name: "shop"), TestHTTPService(name: "blog"))
        let (shopPort, blogPort) = try (FreePort.next(), FreePort.next())
        let lab = try await Lab([
            Gateway(name: "shop", port: GatewayPort(number: shopPort), virtualHosts: ["shop.example.test"], routes: [Fixtures.route("s", weight: 100, targets: [Fixtures.target("s", port: shop.port)])]),
            Gateway(name: "blog", port: GatewayPort(number: blogPort), virtualHosts: ["blog.example.test"], routes: [Fixtures.route("b", weight: 100, targets: [Fixtures.target("b", port: blog.port)])]),
        ])
        #expect(try HTTPProbe.get(port: lab.virtualHostsPort, host: "shop.example.test").header("X-Served-By") == "shop")
        #expect(try HTTPProbe.get(port: lab.virtualHostsPort, host: "BLOG.example.test:\(lab.virtualHostsPort)").header("X-Served-By") == "blog")
        #expect(try HTTPProbe.get(port: lab.virtualHostsPort, host: "other.example.test").status == 503)
    }

    @Test("a rewrite changes the path the backend sees")
    func rewrite() async throws {
        let service = try TestHTTPService(name: "api")
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "api", port: GatewayPort(number: port), routes: [
            Fixtures.route("api", weight: 100, targets: [Fixtures.target("api", port: service.port)], rewrites: [Rewrite(path: "/v2%[path]", condition: "path_beg /orders")]),
        ])])
        #expect(try HTTPProbe.get(port: port, path: "/orders/7").body == "api /v2/orders/7\n")
        #expect(try HTTPProbe.get(port: port, path: "/users/7").body == "api /users/7\n")
        _ = lab
    }

    @Test("a route can target another gateway's port")
    func gatewayTarget() async throws {
        let service = try TestHTTPService(name: "inner")
        let (inner, outer) = try (FreePort.next(), FreePort.next())
        let lab = try await Lab([
            Gateway(name: "shop/web/port", port: GatewayPort(number: inner), routes: [Fixtures.route("shop/web/v1/port", weight: 100, targets: [Fixtures.target("v1", port: service.port)])]),
            Gateway(name: "shop/9050", port: GatewayPort(number: outer), routes: [Fixtures.route("shop/web/port", weight: 100, targets: [Fixtures.target("shop/web/port", port: inner)])]),
        ])
        #expect(try HTTPProbe.get(port: outer).header("X-Served-By") == "inner")
        _ = lab
    }

    @Test("a tcp gateway passes bytes through")
    func tcp() async throws {
        let service = try TestHTTPService(name: "raw")
        let port = try FreePort.next()
        let lab = try await Lab([Gateway(name: "raw", port: GatewayPort(number: port, type: .tcp), routes: [
            Fixtures.route("raw", weight: 100, targets: [Fixtures.target("raw", port: service.port)]),
        ])])
        let request = Array("GET /bytes HTTP/1.0\r\nX-Anything: \u{1}\u{2}\r\n\r\n".utf8)
        let reply = String(decoding: try HTTPProbe.exchange(port: port, bytes: request), as: UTF8.self)
        #expect(reply.hasPrefix("HTTP/1.1 200 OK"))
        #expect(reply.hasSuffix("raw /bytes\n"))
        _ = lab
    }

    @Test("http frontends log Vamp's JSON lines, attributable to gateway and route")
    func logs() async throws {
        let service = try TestHTTPService(name: "web")
        let port = try FreePort.next()
        let listener = try UDPReceiver()
        defer { listener.close() }
        let gateway = Gateway(name: "shop", port: GatewayPort(number: port), routes: [Fixtures.route("web", weight: 100, targets: [Fixtures.target("web", port: service.port)])])
        let lab = try await Lab([gateway], logPort: listener.port)
        for _ in 0..<5 { _ = try HTTPProbe.get(port: port, path: "/metrics-test") }
        var lines: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while lines.count < 10 && ContinuousClock.now < deadline {
            guard let datagram = listener.receive(timeoutMilliseconds: 500) else { continue }
            // Syslog header, then the JSON after "]: ".
            guard let start = datagram.range(of: "]: {") else { continue }
            let json = String(datagram[datagram.index(start.upperBound, offsetBy: -1)...]).trimmingCharacters(in: .whitespacesAndNewlines)
            lines.append(try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "not JSON: \(json)"))
        }
        #expect(lines.count == 10, "two lines per request (gateway hop and route hop)")
        let routeID = Names.lookupName(kind: "route", name: "shop//web")
        #expect(lines.filter { $0["ft"] as? String == gateway.lookupName }.count == 5)
        #expect(lines.filter { $0["ft"] as? String == routeID }.count == 5)
        #expect(lines.allSatisfy { $0["ST"] as? Int == 200 && $0["Tt"] is Int && ($0["r"] as? String)?.contains("/metrics-test") == true })
        _ = lab
    }
}

