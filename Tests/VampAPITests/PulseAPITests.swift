import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Persistence
import Testing
import VampAccess
import VampAPI
import VampCore
import VampModel
import VampPulse

/// `POST /api/v1/pulse` (a separate agent's buckets; the `agent` role may do this and nothing else) and
/// `GET /api/v1/metrics/...?window=` (the figures of a gateway, route or deployment), through real HTTP.
@Suite("REST API: Pulse")
struct PulseAPITests {
    static let gateway = "name: shop\nport: 61010/http\nroutes:\n  \"[127.0.0.1:8081]\": { weight: 80% }\n  \"[127.0.0.1:8082]\": { weight: 20% }\n"

    func withAPI(_ body: @Sendable (any TestClientProtocol, Vamp) async throws -> Void) async throws {
        let store = InMemoryArtifactStore()
        let registry = TokenRegistry(store: store, configured: Role.allCases.map { AccessAPITests.configured($0) }, logger: Logger(label: "test"))
        let vamp = Vamp(artifacts: store)
        let app = Application(
            router: VampHTTPAPI.router(vamp: vamp, access: .tokens(registry)), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await registry.run() }
            try await app.test(.live) { client in try await body(client, vamp) }
            group.cancelAll()
        }
    }

    /// A bucket of `count` requests through the gateway `shop` and its route `[127.0.0.1:8082]`, one in ten a 503.
    static func bucket(second: Int64, count: Int, agent: String = "edge-1") -> PulseBucket {
        let gateway = Names.lookupName(kind: "gateway", name: "shop")
        let route = Names.lookupName(kind: "route", name: "shop//[127.0.0.1:8082]")
        var atGateway = PulseFigures(), atRoute = PulseFigures()
        for index in 0..<count {
            let status = index % 10 == 0 ? 503 : 200
            atGateway.record(LogRecord(key: PulseKey(frontend: gateway, backend: "o_\(gateway)", server: route), totalTime: 10 + index, serverTime: 9 + index, status: status, bytes: 100))
            atRoute.record(LogRecord(key: PulseKey(frontend: route, backend: route, server: "t"), totalTime: 5 + index, serverTime: 5 + index, status: status, bytes: 100))
        }
        return PulseBucket(agent: agent, second: second, entries: [
            .init(key: PulseKey(frontend: gateway, backend: "o_\(gateway)", server: route), figures: atGateway),
            .init(key: PulseKey(frontend: route, backend: route, server: "t"), figures: atRoute),
        ], unparsed: 1, haproxyCounts: [gateway: UInt64(count), route: UInt64(count)])
    }

    static func post(_ buckets: [PulseBucket], as role: String, _ client: any TestClientProtocol) async throws -> TestResponse {
        let body = try JSONEncoder().encode(["buckets": buckets])
        return try await client.execute(
            uri: "/api/v1/pulse", method: .post, headers: AccessAPITests.headers(role, yaml: false).merging([.contentType: "application/json"]),
            body: ByteBuffer(bytes: body))
    }

    @Test("an agent token sends buckets (202) and may do nothing else; a read token may not send; a bad bucket is a 400 naming the field")
    func agentRole() async throws {
        try await withAPI { client, vamp in
            let now = Int64(Date().timeIntervalSince1970)
            let sent = try await Self.post([Self.bucket(second: now - 2, count: 10)], as: "agent", client)
            #expect(sent.status == .accepted)
            #expect(String(buffer: sent.body).contains("\"accepted\":1"))
            let read = try await client.execute(uri: "/api/v1/info", method: .get, headers: AccessAPITests.headers("agent"))
            #expect(read.status == .forbidden)
            #expect(AccessAPITests.message(read).contains("agent"))
            #expect(try await Self.post([Self.bucket(second: now - 2, count: 10)], as: "read", client).status == .forbidden)
            #expect(try await Self.post([Self.bucket(second: now - 2, count: 10)], as: "write", client).status == .accepted)
            let bad = try await client.execute(
                uri: "/api/v1/pulse", method: .post, headers: AccessAPITests.headers("agent", yaml: false).merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"buckets": [{"agent": "a", "second": 1, "entries": [{"key": {"ft": "x", "b": "y", "s": "z"}, "figures": {"requests": 1, "statuses": [1]}}], "unparsed": 0}]}"#))
            #expect(bad.status == .badRequest)
            #expect(AccessAPITests.message(bad).contains("statuses"), "\(AccessAPITests.message(bad))")
            let far = try await Self.post([Self.bucket(second: now + 3600, count: 10)], as: "agent", client)
            #expect(String(buffer: far.body).contains("\"refused\":1"))
        }
    }

    @Test("figures over a window: the gateway, its routes and their sums, in JSON and YAML; a bad window is a 400, an unknown gateway a 404")
    func figuresOverAWindow() async throws {
        try await withAPI { client, vamp in
            let created = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: AccessAPITests.headers("write"), body: ByteBuffer(string: Self.gateway))
            #expect(created.status == .accepted)
            let now = Int64(Date().timeIntervalSince1970)
            // Two agents, three seconds: the figures are their exact sum.
            let buckets = [Self.bucket(second: now - 3, count: 40), Self.bucket(second: now - 2, count: 60, agent: "edge-2"), Self.bucket(second: now - 2, count: 20)]
            #expect(try await Self.post(buckets, as: "agent", client).status == .accepted)
            let answer = try await client.execute(uri: "/api/v1/metrics/gateways/shop?window=60s", method: .get, headers: AccessAPITests.headers("read"))
            #expect(answer.status == .ok)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any])
            let figures = try #require(object["figures"] as? [String: Any])
            #expect(figures["requests"] as? Int == 120)
            #expect(figures["error_rate"] as? Double == 0.1)
            let routes = try #require(object["routes"] as? [String: Any])
            let canary = try #require(routes["[127.0.0.1:8082]"] as? [String: Any])
            #expect(canary["requests"] as? Int == 120)
            #expect((routes["[127.0.0.1:8081]"] as? [String: Any])?["requests"] as? Int == 0)
            var yaml = AccessAPITests.headers("read")
            yaml[.accept] = "application/x-yaml"
            let asYAML = try await client.execute(uri: "/api/v1/metrics/gateways/shop?window=1m", method: .get, headers: yaml)
            #expect(asYAML.headers[.contentType] == "application/x-yaml")
            #expect(String(buffer: asYAML.body).contains("requests: 120"))
            let cut = try await client.execute(uri: "/api/v1/metrics/gateways/shop?window=100000s", method: .get, headers: AccessAPITests.headers("read"))
            #expect(String(buffer: cut.body).contains("\"window\":600"), "cut to what the server keeps")
            for bad in ["abc", "0s", "-5s", "1.5m", "1234567s"] {
                let refused = try await client.execute(uri: "/api/v1/metrics/gateways/shop?window=\(bad)", method: .get, headers: AccessAPITests.headers("read"))
                #expect(refused.status == .badRequest, "window=\(bad)")
                #expect(AccessAPITests.message(refused).contains("window"))
            }
            let unknown = try await client.execute(uri: "/api/v1/metrics/gateways/nothing?window=60s", method: .get, headers: AccessAPITests.headers("read"))
            #expect(unknown.status == .notFound)
            let accounting = await vamp.pulse.accounting(window: .seconds(60))
            #expect(accounting.haproxy == accounting.counted)
            #expect(accounting.unparsed == 3)
        }
    }
}
