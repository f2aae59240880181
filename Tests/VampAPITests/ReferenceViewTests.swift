import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// `expand_references=true` and `only_references=true` on reads (§3.1).
@Suite("REST API: reference views")
struct ReferenceViewTests {
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    @Test("expand_references inlines stored breeds (and their dependencies) and scales; only_references turns named inline artifacts into references")
    func views() async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let setup = """
                ---
                kind: breed
                name: db:1.0
                deployable: acme/db:1.0
                ports: {sql: 5432/tcp}
                ---
                kind: breed
                name: api:1.0
                deployable: acme/api:1.0
                ports: {web: 8080/http}
                dependencies: {db: db:1.0}
                ---
                kind: scale
                name: small
                cpu: 0.2
                memory: 128MB
                instances: 2
                ---
                kind: blueprint
                name: shop
                clusters:
                  api:
                    services:
                      breed: api:1.0
                      scale: small
                  inline:
                    services:
                      breed:
                        name: inline:1.0
                        deployable: acme/inline:1.0
                """
            let stored = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: setup))
            #expect(stored.status == .accepted, "\(String(buffer: stored.body))")

            let plain = String(buffer: try await client.execute(uri: "/api/v1/blueprints/shop", method: .get, headers: [:]).body)
            #expect(!plain.contains("acme/api:1.0"), "stored as written: a reference")
            let expanded = String(buffer: try await client.execute(uri: "/api/v1/blueprints/shop?expand_references=true", method: .get, headers: [:]).body)
            #expect(expanded.contains("acme/api:1.0"), "the breed is inlined: \(expanded)")
            #expect(expanded.contains("acme/db:1.0"), "and its dependency, one level further")
            #expect(expanded.contains("\"instances\":2"), "the scale is inlined")

            let reduced = String(buffer: try await client.execute(uri: "/api/v1/blueprints/shop?only_references=true", method: .get, headers: [:]).body)
            #expect(!reduced.contains("acme/inline:1.0"), "the named inline breed becomes a reference: \(reduced)")
            #expect(reduced.contains("inline:1.0"))

            let listed = String(buffer: try await client.execute(uri: "/api/v1/blueprints?expand_references=true", method: .get, headers: [:]).body)
            #expect(listed.contains("acme/api:1.0"))
            let both = try await client.execute(uri: "/api/v1/blueprints/shop?expand_references=true&only_references=true", method: .get, headers: [:])
            #expect(both.status == .badRequest)
        }
    }
}
