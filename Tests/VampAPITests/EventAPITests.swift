import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Persistence
import Testing
import VampAPI
import VampCore
import VampModel

/// Events, the SSE stream, health and metrics lookups, archive events, ETag/If-Match, /info, /config and /vga,
/// through real HTTP on loopback.
@Suite("REST API: events, stream, health, metrics, system routes")
struct EventAPITests {
    static let json: HTTPFields = [.contentType: "application/json", .accept: "application/json"]
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    func withAPI(
        configuration: VampAPIConfiguration = VampAPIConfiguration(),
        _ body: @Sendable (any TestClientProtocol, Vamp) async throws -> Void
    ) async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), events: InMemoryEventStore())
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open, configuration: configuration),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client, vamp) }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func array(_ response: TestResponse) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]]) ?? []
    }

    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
    }

    @Test("POST /events stores with group tags; GET by tag and type is newest first, paged, with X-Total-Count")
    func publishAndQuery() async throws {
        try await withAPI { client, _ in
            for index in 1...3 {
                let posted = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"tags": ["deployments:shop", "custom"], "value": \#(index), "type": "metrics"}"#))
                #expect(posted.status == .created, "\(Self.text(posted))")
                #expect(Self.object(posted)["tags"] as? [String] == ["custom", "deployments", "deployments:shop"])
            }
            _ = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.yaml, body: ByteBuffer(string: "tags: [other]\n"))

            let page = try await client.execute(uri: "/api/v1/events?tag=deployments:shop&type=metrics&per_page=2", method: .get, headers: [.accept: "application/json"])
            #expect(page.status == .ok)
            #expect(page.headers[HTTPField.Name("X-Total-Count")!] == "3")
            #expect(Self.array(page).map { ($0["value"] as? NSNumber)?.intValue } == [3, 2])
            #expect(page.headers[HTTPField.Name("Link")!]?.contains("rel=next") == true)

            let any = try await client.execute(uri: "/api/v1/events?tag=deployments", method: .get, headers: [:])
            #expect(any.headers[HTTPField.Name("X-Total-Count")!] == "3", "the group tag 'deployments' matches")
            let none = try await client.execute(uri: "/api/v1/events?tag=custom&type=health", method: .get, headers: [:])
            #expect(Self.array(none).isEmpty)
        }
    }

    @Test("a query body with date math and an aggregator; lt with lte is a 400 naming the field")
    func queryBody() async throws {
        try await withAPI { client, _ in
            for value in [2, 4, 9] {
                _ = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"tags": ["gateways:web", "metrics:rtime"], "value": \#(value)}"#))
            }
            let recent = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": ["gateways:web"], "timestamp": {"gte": "now-1m"}}"#))
            #expect(Self.array(recent).count == 3, "\(Self.text(recent))")
            // Vamp 0.9.5's own form, as its scripts send it.
            let vampForm = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": ["gateways:web"], "timestamp": {"gte": "now() - 10m", "lte": "now()"}}"#))
            #expect(vampForm.status == .ok, "\(Self.text(vampForm))")
            #expect(Self.array(vampForm).count == 3, "\(Self.text(vampForm))")
            let vampFuture = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": ["gateways:web"], "timestamp": {"gt": "now() + 1h"}}"#))
            #expect(vampFuture.status == .ok && Self.array(vampFuture).isEmpty, "\(Self.text(vampFuture))")
            let invalid = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": ["gateways:web"], "timestamp": {"gte": "now() - 10 minutes"}}"#))
            #expect(invalid.status == .badRequest)
            #expect((Self.object(invalid)["message"] as? String ?? "").contains("timestamp.gte"), "\(Self.text(invalid))")
            let future = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": ["gateways:web"], "timestamp": {"gt": "now+1h"}}"#))
            #expect(Self.array(future).isEmpty)
            let average = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.yaml,
                body: ByteBuffer(string: "tags: [metrics:rtime]\naggregator: {type: average}\n"))
            #expect(average.status == .ok)
            #expect((Self.object(average)["value"] as? NSNumber)?.doubleValue == 5)
            let bad = try await client.execute(uri: "/api/v1/events", method: .get, headers: Self.json,
                body: ByteBuffer(string: #"{"tags": [], "timestamp": {"lt": "now", "lte": "now"}}"#))
            #expect(bad.status == .badRequest)
            #expect((Self.object(bad)["message"] as? String ?? "").contains("timestamp"), "\(Self.text(bad))")
            let badEvent = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"tags": []}"#))
            #expect(badEvent.status == .badRequest)
            #expect(!(Self.object(badEvent)["message"] as? String ?? "").isEmpty)
        }
    }

    @Test("every artifact change publishes its archive event with exactly Vamp's tags and the request body")
    func archiveEvents() async throws {
        try await withAPI { client, _ in
            let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\n"
            _ = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: breed))
            _ = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .put, headers: Self.yaml, body: ByteBuffer(string: breed))
            _ = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete, headers: [:])
            _ = try await client.execute(uri: "/api/v1/breeds?validate_only=true", method: .post, headers: Self.yaml,
                                         body: ByteBuffer(string: "name: other:1.0\ndeployable: x/y:1\n"))
            let events = Self.array(try await client.execute(uri: "/api/v1/events?tag=breeds:sava:1.0", method: .get, headers: [:]))
            #expect(events.map { $0["tags"] as? [String] ?? [] } == [
                ["archive", "archive:delete", "breeds", "breeds:sava:1.0"],
                ["archive", "archive:update", "breeds", "breeds:sava:1.0"],
                ["archive", "archive:create", "breeds", "breeds:sava:1.0"],
            ])
            #expect(events.allSatisfy { $0["type"] as? String == "archive" })
            #expect(events.last?["value"] as? String == breed)
            let validated = Self.array(try await client.execute(uri: "/api/v1/events?tag=breeds:other:1.0", method: .get, headers: [:]))
            #expect(validated.isEmpty, "validate_only publishes nothing")
        }
    }

    @Test("GET /events/stream delivers an event posted after subscribing, as event: <type> and data: <json>, filtered by tag")
    func serverSentEvents() async throws {
        try await withAPI(configuration: VampAPIConfiguration(sseKeepAlive: .milliseconds(200))) { client, _ in
            let port = try #require(client.port)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/v1/events/stream?tag=deployments:shop")
                request.method = .GET
                let response = try await http.execute(request, timeout: .seconds(30))
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "content-type") == "text/event-stream")
                var received = ""
                var iterator = response.body.makeAsyncIterator()
                // The first chunk says the subscription is in place.
                if let chunk = try await iterator.next() { received += String(buffer: chunk) }
                #expect(received.hasPrefix(": subscribed"))
                _ = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"tags": ["other"], "value": "not for this stream"}"#))
                _ = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"tags": ["deployments:shop"], "value": "hello", "type": "deploy-note"}"#))
                let deadline = ContinuousClock.now + .seconds(10)
                while !(received.contains("event: deploy-note") && received.hasSuffix("\n\n") && received.contains(": heartbeat")),
                      ContinuousClock.now < deadline {
                    guard let chunk = try await iterator.next() else { break }
                    received += String(buffer: chunk)
                }
                #expect(received.contains("event: deploy-note\ndata: {"), "\(received)")
                #expect(received.contains(#""value":"hello""#), "\(received)")
                #expect(!received.contains("not for this stream"))
                #expect(received.contains(": heartbeat"), "a heartbeat comment every sseKeepAlive")
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    @Test("health and metrics are the newest matching event's value within the window; 404 when there is none")
    func healthAndMetrics() async throws {
        try await withAPI { client, _ in
            // A route's health event also carries its gateway's tags (§1.12), so it comes first here.
            for body in [
                #"{"tags": ["gateways:shop/web", "routes:shop/web/a/web", "health"], "value": 0, "type": "health"}"#,
                #"{"tags": ["gateways:shop/web", "health"], "value": 1, "type": "health"}"#,
                #"{"tags": ["gateways:shop/web", "health"], "value": 0.5, "type": "health"}"#,
                #"{"tags": ["gateways:shop/web", "metrics:rtime"], "value": 12.5, "type": "metrics"}"#,
                #"{"tags": ["gateways:shop/web/web", "metrics:rtime"], "value": 7, "type": "metrics"}"#,
                #"{"tags": ["deployments:shop", "clusters:web", "health"], "value": 0.75, "type": "health"}"#,
            ] {
                let posted = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json, body: ByteBuffer(string: body))
                #expect(posted.status == .created)
            }
            let gateway = try await client.execute(uri: "/api/v1/health/gateways/shop/web", method: .get, headers: [:])
            #expect(Self.text(gateway) == "0.5")
            let route = try await client.execute(uri: "/api/v1/health/gateways/shop/web/routes/shop/web/a/web", method: .get, headers: [:])
            #expect(Self.text(route) == "0")
            let cluster = try await client.execute(uri: "/api/v1/health/deployments/shop/clusters/web", method: .get, headers: [:])
            #expect(Self.text(cluster) == "0.75")
            let metric = try await client.execute(uri: "/api/v1/metrics/gateways/shop/web/rtime", method: .get, headers: [:])
            #expect(Self.text(metric) == "12.5")
            let port = try await client.execute(uri: "/api/v1/metrics/deployments/shop/clusters/web/ports/web/rtime", method: .get, headers: [:])
            #expect(Self.text(port) == "7", "the internal gateway deployment/cluster/port")
            for missing in ["/api/v1/health/gateways/nothing", "/api/v1/metrics/gateways/shop/web/other",
                            "/api/v1/health/deployments/shop/clusters/web/services/s/instances/i"] {
                let answer = try await client.execute(uri: missing, method: .get, headers: [:])
                #expect(answer.status == .notFound, "\(missing)")
                #expect(answer.body.readableBytes == 0)
            }
        }
    }

    @Test("ETag on single artifacts; If-Match with a stale version is 412 and changes nothing; two racing writers: one wins")
    func optimisticConcurrency() async throws {
        try await withAPI { client, _ in
            let gateway = "name: web\nport: 9050/http\nroutes:\n  \"[127.0.0.1:8081]\": {weight: 100%}\n"
            _ = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml, body: ByteBuffer(string: gateway))
            let read = try await client.execute(uri: "/api/v1/gateways/web", method: .get, headers: [:])
            let tag = try #require(read.headers[.eTag])
            #expect(tag == "\"1\"")

            var stale = Self.yaml
            stale[.ifMatch] = "\"7\""
            let refused = try await client.execute(uri: "/api/v1/gateways/web", method: .put, headers: stale, body: ByteBuffer(string: gateway))
            #expect(refused.status == .preconditionFailed, "\(Self.text(refused))")
            #expect((Self.object(refused)["message"] as? String ?? "").contains("web"))

            // Two clients read version 1 and both write with If-Match: exactly one succeeds.
            var current = Self.yaml
            current[.ifMatch] = tag
            let changed = gateway.replacingOccurrences(of: "8081", with: "8082")
            async let first = client.execute(uri: "/api/v1/gateways/web", method: .put, headers: current, body: ByteBuffer(string: changed))
            async let second = client.execute(uri: "/api/v1/gateways/web", method: .put, headers: current, body: ByteBuffer(string: gateway.replacingOccurrences(of: "8081", with: "8083")))
            let statuses = try await [first.status, second.status]
            #expect(statuses.filter { $0 == .accepted }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == .preconditionFailed }.count == 1, "\(statuses)")
            let after = try await client.execute(uri: "/api/v1/gateways/web", method: .get, headers: [:])
            #expect(after.headers[.eTag] == "\"2\"")

            var deleteStale = HTTPFields()
            deleteStale[.ifMatch] = "\"1\""
            let notDeleted = try await client.execute(uri: "/api/v1/gateways/web", method: .delete, headers: deleteStale)
            #expect(notDeleted.status == .preconditionFailed)
            #expect(try await client.execute(uri: "/api/v1/gateways/web", method: .get, headers: [:]).status == .ok)
        }
    }

    @Test("/info has Vamp's sections; /config shows the settings nested, flat and by key; /vga shows the generated text")
    func systemRoutes() async throws {
        let configuration = VampAPIConfiguration(
            information: ServerInformation(sections: ["persistence": .object(["database": .object(["type": .string("sqlite")])])]),
            settings: ["vamp.http-api.port": "8080", "vamp.namespace": "vamp"],
            haproxyTemplate: "global\n")
        try await withAPI(configuration: configuration) { client, _ in
            let info = Self.object(try await client.execute(uri: "/api/v1/info", method: .get, headers: [:]))
            #expect(info["message"] as? String == "Hi, I'm Vamp! How are you?")
            #expect(info["running_since"] is String)
            #expect((info["persistence"] as? [String: Any])?["database"] != nil)

            let nested = Self.object(try await client.execute(uri: "/api/v1/config", method: .get, headers: [:]))
            #expect(((nested["vamp"] as? [String: Any])?["http-api"] as? [String: Any])?["port"] as? String == "8080")
            let flat = Self.object(try await client.execute(uri: "/api/v1/config?flatten=true", method: .get, headers: [:]))
            #expect(flat["vamp.namespace"] as? String == "vamp")
            let one = try await client.execute(uri: "/api/v1/config/vamp/namespace", method: .get, headers: [:])
            #expect(Self.text(one) == "\"vamp\"")
            #expect(try await client.execute(uri: "/api/v1/config/vamp/nothing", method: .get, headers: [:]).status == .notFound)
            // Read-only: set at start (405 with Allow: GET).
            #expect(try await client.execute(uri: "/api/v1/config", method: .put, headers: Self.json, body: ByteBuffer(string: "{}")).status == .methodNotAllowed)

            _ = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml,
                                         body: ByteBuffer(string: "name: web\nport: 9050/http\nroutes:\n  \"[127.0.0.1:8081]\": {weight: 100%}\n"))
            let text = try await client.execute(uri: "/api/v1/vga/haproxy/2.6/configuration", method: .get, headers: [:])
            #expect(text.status == .ok)
            #expect(Self.text(text).contains("# gateway web (9050/http)"))
            #expect(Self.text(text).contains("server ") && Self.text(text).contains("127.0.0.1:8081"))
            #expect(Self.text(try await client.execute(uri: "/api/v1/vga/haproxy/2.6/template", method: .get, headers: [:])) == "global\n")
            #expect(try await client.execute(uri: "/api/v1/vga/haproxy/1.7/configuration", method: .get, headers: [:]).status == .notFound)
        }
    }

    @Test("POST /docker-compose?name=N stores blueprint N and answers its YAML with the notes as comments")
    func dockerCompose() async throws {
        try await withAPI { client, _ in
            let compose = "services:\n  web:\n    image: nginx:1.25\n    ports: [\"8080:80\"]\n"
            let converted = try await client.execute(uri: "/api/v1/docker-compose?name=shop", method: .post, headers: Self.yaml, body: ByteBuffer(string: compose))
            #expect(converted.status == .created, "\(Self.text(converted))")
            #expect(Self.text(converted).contains("#"))
            #expect(Self.text(converted).contains("nginx:1.25"))
            let stored = try await client.execute(uri: "/api/v1/blueprints/shop", method: .get, headers: [:])
            #expect(stored.status == .ok)
            let unnamed = try await client.execute(uri: "/api/v1/docker-compose", method: .post, headers: Self.yaml, body: ByteBuffer(string: compose))
            #expect(unnamed.status == .badRequest)
        }
    }
}
