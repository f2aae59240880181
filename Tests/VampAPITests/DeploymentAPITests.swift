import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// `/deployments` over real HTTP on loopback: create, merge, slice, the gateways a deployment makes, scale and
/// `as_blueprint`. The services are not run here (no reconciler); the end-to-end tests run them.
@Suite("REST API: deployments over real HTTP")
struct DeploymentAPITests {
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    static let blueprint = """
        name: sava
        gateways:
          9050/http: web/web
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.0
                  deployable: {type: command, definition: "sava --text 1.0"}
                  ports: {web: 8080/http}
                scale: {cpu: 0.1, memory: 64MB, instances: 2}
        """

    static let canary = """
        name: sava
        clusters:
          web:
            services:
              - breed:
                  name: sava:1.1
                  deployable: {type: command, definition: "sava --text 1.1"}
                  ports: {web: 8080/http}
        """

    func withAPI(_ body: @Sendable (any TestClientProtocol, Vamp) async throws -> Void) async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client, vamp) }
    }

    static func json(_ response: TestResponse) -> Any? { try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) }
    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }
    static func message(_ response: TestResponse) -> String { (json(response) as? [String: Any])?["message"] as? String ?? "" }

    static func weights(_ deployment: Any?) -> [String: String] {
        guard let deployment = deployment as? [String: Any], let clusters = deployment["clusters"] as? [String: Any],
              let web = clusters["web"] as? [String: Any], let gateways = web["gateways"] as? [String: Any],
              let port = gateways["web"] as? [String: Any], let routes = port["routes"] as? [String: Any] else { return [:] }
        return routes.compactMapValues { ($0 as? [String: Any])?["weight"] as? String }
    }

    @Test("POST a blueprint: 202, the deployment with its service Initiated, the internal gateway and the external gateway shop/9050")
    func create() async throws {
        try await withAPI { client, _ in
            let created = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint))
            #expect(created.status == .accepted, "\(Self.text(created))")
            let read = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: [.accept: "application/json"])
            #expect(read.status == .ok)
            let deployment = Self.json(read) as? [String: Any]
            #expect(Self.weights(deployment) == ["sava:1.0": "100%"])
            let text = Self.text(read)
            #expect(text.contains("\"Initiated\""))
            #expect(text.contains("\"web.web\":61000"), "\(text)")

            let clusterGateway = try await client.execute(uri: "/api/v1/gateways/sava/web/web", method: .get, headers: [.accept: "application/json"])
            #expect(clusterGateway.status == .ok)
            #expect(Self.text(clusterGateway).contains("\"sava/web/sava:1.0/web\""))
            let external = try await client.execute(uri: "/api/v1/gateways/sava/9050", method: .get, headers: [.accept: "application/json"])
            #expect(external.status == .ok)
            #expect(Self.text(external).contains("\"sava/web/web\""))
            let breed = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get, headers: [.accept: "application/json"])
            #expect(breed.status == .ok, "inline breeds are stored")

            let events = try await client.execute(uri: "/api/v1/events?tag=deployments:sava&tag=archive:create", method: .get, headers: [.accept: "application/json"])
            #expect((Self.json(events) as? [Any])?.count == 1)
        }
    }

    @Test("merge a canary: 0% next to 100%; shift 90/10 through PUT /gateways; a slice that would leave 90% is refused; promote and slice")
    func canaryRelease() async throws {
        try await withAPI { client, _ in
            _ = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint))
            let merged = try await client.execute(uri: "/api/v1/deployments/sava", method: .put, headers: Self.yaml, body: ByteBuffer(string: Self.canary))
            #expect(merged.status == .accepted, "\(Self.text(merged))")
            let read = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: [.accept: "application/json"])
            #expect(Self.weights(Self.json(read)) == ["sava:1.0": "100%", "sava:1.1": "0%"])

            let shift = """
                name: sava/web/web
                port: 61000/http
                routes:
                  sava/web/sava:1.0/web: {weight: 90%}
                  sava/web/sava:1.1/web: {weight: 10%}
                """
            let shifted = try await client.execute(uri: "/api/v1/gateways/sava/web/web", method: .put, headers: Self.yaml, body: ByteBuffer(string: shift))
            #expect(shifted.status == .accepted, "\(Self.text(shifted))")
            let after = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: [.accept: "application/json"])
            #expect(Self.weights(Self.json(after)) == ["sava:1.0": "90%", "sava:1.1": "10%"])

            let removeOld = """
                name: sava
                clusters:
                  web:
                    services: [{breed: sava:1.0}]
                """
            let refused = try await client.execute(uri: "/api/v1/deployments/sava", method: .delete, headers: Self.yaml, body: ByteBuffer(string: removeOld))
            #expect(refused.status == .badRequest)
            #expect(Self.message(refused).contains("Invalid route weight"))

            let added = try await client.execute(uri: "/api/v1/gateways/sava/web/web", method: .put, headers: Self.yaml, body: ByteBuffer(string: """
                name: sava/web/web
                routes:
                  sava/web/sava:1.0/web: {weight: 100%}
                  sava/web/other:1.0/web: {weight: 0%}
                """))
            #expect(added.status == .badRequest, "the routes of an internal gateway follow the services")

            let promote = shift.replacingOccurrences(of: "90%", with: "0%").replacingOccurrences(of: "10%", with: "100%")
            _ = try await client.execute(uri: "/api/v1/gateways/sava/web/web", method: .put, headers: Self.yaml, body: ByteBuffer(string: promote))
            let sliced = try await client.execute(uri: "/api/v1/deployments/sava", method: .delete, headers: Self.yaml, body: ByteBuffer(string: removeOld))
            #expect(sliced.status == .accepted, "\(Self.text(sliced))")
            let final = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: [.accept: "application/json"])
            #expect(Self.weights(Self.json(final)) == ["sava:1.1": "100%"])
            #expect(Self.text(final).contains("\"Undeployment\""))

            let nothing = try await client.execute(uri: "/api/v1/deployments/sava", method: .delete, headers: [.accept: "application/json"])
            #expect(nothing.status == .accepted, "an empty body deletes nothing")
        }
    }

    @Test("as_blueprint, scale, a reference to a stored blueprint, and clear errors: an unknown breed, a port taken by another deployment")
    func readingAndErrors() async throws {
        try await withAPI { client, _ in
            _ = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint))
            let blueprint = try await client.execute(uri: "/api/v1/deployments/sava?as_blueprint=true", method: .get, headers: [.accept: "application/x-yaml"])
            let text = Self.text(blueprint)
            #expect(text.contains("kind: blueprint") || text.contains("name: sava"))
            #expect(!text.contains("Initiated"))

            let scale = try await client.execute(uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale", method: .get, headers: [.accept: "application/json"])
            #expect(Self.text(scale).contains("\"instances\":2"))
            // validate_only checks and writes nothing (it wrote the scale before: the web UI found it).
            let checked = try await client.execute(
                uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale?validate_only=true", method: .put, headers: Self.yaml,
                body: ByteBuffer(string: "{cpu: 0.1, memory: 64MB, instances: 5}"))
            #expect(checked.status == .ok, "\(Self.text(checked))")
            let unchanged = try await client.execute(uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale", method: .get, headers: [.accept: "application/json"])
            #expect(Self.text(unchanged).contains("\"instances\":2"))
            let invalid = try await client.execute(
                uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale?validate_only=true", method: .put, headers: Self.yaml,
                body: ByteBuffer(string: "{cpu: 0.1, memory: 64MB, instances: -1}"))
            #expect(invalid.status == .badRequest, "\(Self.text(invalid))")
            let scaled = try await client.execute(
                uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale", method: .put, headers: Self.yaml,
                body: ByteBuffer(string: "{cpu: 0.1, memory: 64MB, instances: 3}"))
            #expect(scaled.status == .accepted, "\(Self.text(scaled))")
            let read = try await client.execute(uri: "/api/v1/deployments/sava/clusters/web/services/sava:1.0/scale", method: .get, headers: [.accept: "application/json"])
            #expect(Self.text(read).contains("\"instances\":3"))

            let unknown = try await client.execute(uri: "/api/v1/deployments/x", method: .put, headers: Self.yaml, body: ByteBuffer(string: """
                name: x
                clusters:
                  web: nosuch:1.0
                """))
            #expect(unknown.status == .badRequest)
            #expect(Self.message(unknown).contains("nosuch:1.0"))

            let taken = try await client.execute(uri: "/api/v1/deployments/other", method: .put, headers: Self.yaml,
                                                 body: ByteBuffer(string: Self.blueprint.replacingOccurrences(of: "name: sava\n", with: "name: other\n")))
            #expect(taken.status == .badRequest)
            #expect(Self.message(taken).contains("9050"), "\(Self.message(taken))")
            let none = try await client.execute(uri: "/api/v1/deployments/other", method: .get, headers: [.accept: "application/json"])
            #expect(none.status == .notFound, "a refused deployment leaves nothing behind")

            _ = try await client.execute(uri: "/api/v1/blueprints", method: .post, headers: Self.yaml,
                                         body: ByteBuffer(string: Self.blueprint.replacingOccurrences(of: "name: sava\n", with: "name: stored\n").replacingOccurrences(of: "9050", with: "9060")))
            let byName = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: "stored"))
            #expect(byName.status == .accepted, "\(Self.text(byName))")
            let list = try await client.execute(uri: "/api/v1/deployments", method: .get, headers: [.accept: "application/json"])
            #expect(list.headers[HTTPField.Name("X-Total-Count")!] == "2")
        }
    }

    @Test("a kind: deployment document in the multi-document endpoint deploys its blueprint, next to a breed it uses")
    func multiDocument() async throws {
        try await withAPI { client, _ in
            let body = """
                ---
                kind: breed
                name: api:1.0
                deployable: {type: command, definition: "sava --text api"}
                ports: {port: 8080/http}
                ---
                kind: deployment
                name: shop
                clusters: {api: api:1.0}
                """
            let answer = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: body))
            #expect(answer.status == .accepted, "\(Self.text(answer))")
            let read = try await client.execute(uri: "/api/v1/deployments/shop", method: .get, headers: [.accept: "application/json"])
            #expect(read.status == .ok)
            #expect(Self.text(read).contains("\"api.port\":61000"), "\(Self.text(read))")
        }
    }

    @Test("a deployment as the API shows it is also a request: PUT it under another name and the copy has the same services and weights")
    func deploymentBody() async throws {
        try await withAPI { client, _ in
            _ = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint))
            _ = try await client.execute(uri: "/api/v1/deployments/sava", method: .put, headers: Self.yaml, body: ByteBuffer(string: Self.canary))
            let read = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: [.accept: "application/json"])
            let copy = try await client.execute(
                uri: "/api/v1/deployments/copy", method: .put, headers: [.contentType: "application/json", .accept: "application/json"],
                body: ByteBuffer(string: Self.text(read)))
            #expect(copy.status == .accepted, "\(Self.text(copy))")
            let copied = try await client.execute(uri: "/api/v1/deployments/copy", method: .get, headers: [.accept: "application/json"])
            #expect(Self.weights(Self.json(copied)) == ["sava:1.0": "100%", "sava:1.1": "0%"])
            #expect(!Self.text(copied).contains("\"web.web\":61000"), "the copy's internal gateway has a port of its own")
        }
    }
}
