import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// `DELETE /api/v1` with the short documents cleanup scripts written for Vamp 0.9.5 send: only kind and name count.
@Suite("REST API: DELETE needs only kind and name")
struct DeletionAPITests {
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    func withAPI(_ body: @Sendable (any TestClientProtocol, any ArtifactStore) async throws -> Void) async throws {
        let store = InMemoryArtifactStore()
        let app = Application(router: VampHTTPAPI.router(vamp: Vamp(artifacts: store), access: .open),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client, store) }
    }

    static func message(_ response: TestResponse) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return "" }
        return object["message"] as? String ?? ""
    }

    /// A breed, a gateway and a scale, created in full.
    static func create(_ client: any TestClientProtocol) async throws {
        let full = """
            ---
            kind: breed
            name: sava:1.0
            deployable: magneticio/sava:1.0.0
            ports: {web: 8080/http}
            ---
            kind: gateway
            name: cleanup
            port: 9050/http
            routes: {"[127.0.0.1:8081]": {weight: 100%}}
            ---
            kind: scale
            name: small
            cpu: 0.5
            memory: 256MB
            """
        let created = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: full))
        #expect(created.status == .accepted, "\(String(buffer: created.body))")
    }

    static func total(_ store: any ArtifactStore, _ kinds: [String] = ["breeds", "gateways", "scales"]) async throws -> Int {
        var total = 0
        for kind in kinds { total += try await store.list(kind: kind, page: PageRequest()).total }
        return total
    }

    @Test("a breed without its deployable, a gateway without its port, a scale without cpu: deleted, 202")
    func shortDocuments() async throws {
        try await withAPI { client, store in
            try await Self.create(client)
            #expect(try await Self.total(store) == 3)
            let short = "---\nkind: breed\nname: sava:1.0\n---\nkind: gateway\nname: cleanup\n---\nkind: scale\nname: small\nmemory: 256MB\n"
            let deleted = try await client.execute(uri: "/api/v1", method: .delete, headers: Self.yaml, body: ByteBuffer(string: short))
            #expect(deleted.status == .accepted, "\(String(buffer: deleted.body))")
            #expect(try await Self.total(store) == 0)
            #expect(try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get).status == .notFound)
        }
    }

    @Test("the documents as they were created delete too, in JSON as well")
    func fullDocumentsAndJSON() async throws {
        try await withAPI { client, store in
            try await Self.create(client)
            let json = #"[{"kind": "breeds", "name": "sava:1.0", "deployable": {"type": "container/docker", "definition": "magneticio/sava:1.0.0"}}, {"kind": "scales", "name": "small"}]"#
            let deleted = try await client.execute(uri: "/api/v1", method: .delete, headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
            #expect(deleted.status == .accepted, "\(String(buffer: deleted.body))")
            #expect(try await Self.total(store, ["breeds", "scales"]) == 0)
            #expect(try await Self.total(store, ["gateways"]) == 1)
        }
    }

    @Test("validate_only deletes nothing")
    func validateOnly() async throws {
        try await withAPI { client, store in
            try await Self.create(client)
            let checked = try await client.execute(uri: "/api/v1?validate_only=true", method: .delete, headers: Self.yaml, body: ByteBuffer(string: "kind: breed\nname: sava:1.0\n"))
            #expect(checked.status == .accepted)
            #expect(try await Self.total(store) == 3)
        }
    }

    @Test("a document without a name, or of an unknown kind, is a 400 naming the document, the field and the line; nothing is deleted")
    func refused() async throws {
        try await withAPI { client, store in
            try await Self.create(client)
            let noName = try await client.execute(uri: "/api/v1", method: .delete, headers: Self.yaml,
                                                  body: ByteBuffer(string: "kind: breed\nname: sava:1.0\n---\nkind: scale\nmemory: 256MB\n"))
            #expect(noName.status == .badRequest)
            let message = Self.message(noName)
            #expect(message.contains("document 2") && message.contains("field name") && message.contains("line 4"), "\(message)")
            let unknown = try await client.execute(uri: "/api/v1", method: .delete, headers: Self.yaml, body: ByteBuffer(string: "kind: bread\nname: sava:1.0\n"))
            #expect(unknown.status == .badRequest)
            #expect(Self.message(unknown).contains("unknown kind"), "\(Self.message(unknown))")
            #expect(try await Self.total(store) == 3)
        }
    }

    @Test("a deployment's document is still read in full and slices")
    func deploymentSlices() async throws {
        try await withAPI { client, _ in
            let deploy = """
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
            let deployed = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: deploy))
            #expect(deployed.status == .accepted, "\(String(buffer: deployed.body))")
            let bad = try await client.execute(uri: "/api/v1", method: .delete, headers: Self.yaml,
                                               body: ByteBuffer(string: "kind: deployment\nname: shop\nclusters: {api: {breed: api:1.0, scael: x}}\n"))
            #expect(bad.status == .badRequest)
            #expect(Self.message(bad).contains("scael"), "\(Self.message(bad))")
            let sliced = try await client.execute(uri: "/api/v1", method: .delete, headers: Self.yaml,
                                                  body: ByteBuffer(string: "kind: deployment\nname: shop\nclusters: {api: api:1.0}\n"))
            #expect(sliced.status == .accepted, "\(String(buffer: sliced.body))")
            let read = try await client.execute(uri: "/api/v1/deployments/shop", method: .get, headers: [.accept: "application/json"])
            #expect(String(buffer: read.body).contains("\"Undeployment\""), "\(String(buffer: read.body))")
        }
    }
}
