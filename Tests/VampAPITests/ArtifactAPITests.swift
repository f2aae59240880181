import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// The artifact endpoints of `/api/v1` through real HTTP on loopback (Hummingbird's live test server).
@Suite("REST API: artifacts over real HTTP")
struct ArtifactAPITests {
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    static let breed = """
        name: sava:1.0
        deployable: magneticio/sava:1.0.0
        ports:
          web: 8080/http
        """

    func withAPI(_ store: any ArtifactStore = InMemoryArtifactStore(), configuration: VampAPIConfiguration = VampAPIConfiguration(),
                 _ body: @Sendable (any TestClientProtocol, any ArtifactStore) async throws -> Void) async throws {
        let vamp = Vamp(artifacts: store)
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open, configuration: configuration),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client, store) }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func message(_ response: TestResponse) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return "" }
        return object["message"] as? String ?? ""
    }

    @Test("create, read in JSON and YAML, update, delete; 404 has an empty body; delete is idempotent")
    func lifecycle() async throws {
        try await withAPI { client, _ in
            let created = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.breed))
            #expect(created.status == .created)
            #expect(Self.text(created).hasPrefix("[{\"name\":\"sava:1.0\""))
            #expect(created.headers[.cacheControl] == "no-store")

            let json = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get, headers: [.accept: "application/json"])
            #expect(json.status == .ok)
            #expect(json.headers[.contentType] == "application/json")
            #expect(Self.text(json).contains("\"deployable\""))
            let yaml = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get, headers: [.accept: "application/x-yaml"])
            #expect(yaml.headers[.contentType] == "application/x-yaml")
            #expect(Self.text(yaml).contains("name: sava:1.0"))

            let renamed = try await client.execute(uri: "/api/v1/breeds/other", method: .put, headers: Self.yaml, body: ByteBuffer(string: Self.breed))
            #expect(renamed.status == .badRequest)
            #expect(Self.message(renamed).contains("'other'"))

            let updated = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .put, headers: Self.yaml,
                                                   body: ByteBuffer(string: Self.breed.replacingOccurrences(of: "1.0.0", with: "1.0.1")))
            #expect(updated.status == .ok)
            #expect(Self.text(updated).contains("1.0.1"))

            #expect(try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete).status == .noContent)
            let missing = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get)
            #expect(missing.status == .notFound)
            #expect(missing.body.readableBytes == 0)
            #expect(try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete).status == .noContent)
            #expect(try await client.execute(uri: "/api/v1/nonsense", method: .get).status == .notFound)
        }
    }

    @Test("validate_only answers the would-be artifact and persists nothing")
    func validateOnly() async throws {
        try await withAPI { client, store in
            let response = try await client.execute(uri: "/api/v1/breeds?validate_only=true", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.breed))
            #expect(response.status == .created)
            #expect(Self.text(response).hasPrefix("{\"name\":\"sava:1.0\""))
            #expect(try await store.list(kind: "breeds", page: PageRequest()).total == 0)
        }
    }

    @Test("bad bodies get 4xx with a message: wrong type, invalid UTF-8, syntax error with its line, too large, empty")
    func badBodies() async throws {
        try await withAPI(configuration: VampAPIConfiguration(maximumBodySize: 4096)) { client, store in
            let form = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: Self.breed))
            #expect(form.status == .badRequest)
            #expect(Self.message(form).contains("application/x-yaml"))

            let invalidUTF8 = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(bytes: [0x6e, 0x61, 0xff, 0xfe]))
            #expect(invalidUTF8.status == .badRequest)
            #expect(Self.message(invalidUTF8).contains("UTF-8"))

            let unknownKey = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.breed + "\ncolour: red\n"))
            #expect(unknownKey.status == .badRequest)
            #expect(Self.message(unknownKey).contains("colour"))
            #expect(Self.message(unknownKey).contains("5"))   // the line of the unknown key

            let huge = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.breed + "\n#" + String(repeating: "x", count: 10_000)))
            #expect(huge.status == .contentTooLarge)
            #expect(Self.message(huge).contains("4096"))

            let empty = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: "  \n"))
            #expect(empty.status == .badRequest)

            let deep = String(repeating: "[", count: 2_000)
            let nested = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: deep))
            #expect(nested.status == .badRequest)
            #expect(try await store.list(kind: "breeds", page: PageRequest()).total == 0)
        }
    }

    @Test("a gateway HAProxy would refuse is a 400 naming it and nothing is stored; ports are allocated from the range")
    func gateways() async throws {
        try await withAPI { client, store in
            let bad = """
                name: shop
                port: 9050/http
                routes:
                  "[127.0.0.1:8081]": { weight: 60% }
                  "[127.0.0.1:8082]": { weight: 60% }
                """
            let refused = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml, body: ByteBuffer(string: bad))
            #expect(refused.status == .badRequest)
            #expect(Self.message(refused).contains("'shop'"))
            #expect(try await store.list(kind: "gateways", page: PageRequest()).total == 0)

            for name in ["a", "b"] {
                let created = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml,
                                                       body: ByteBuffer(string: "name: \(name)\nport: 0/http\nroutes:\n  \"[127.0.0.1:8081]\": { weight: 100% }\n"))
                #expect(created.status == .accepted)
            }
            let a = Self.text(try await client.execute(uri: "/api/v1/gateways/a", method: .get))
            let b = Self.text(try await client.execute(uri: "/api/v1/gateways/b", method: .get))
            #expect(a.contains("\"port\":\"61000/http\""))
            #expect(b.contains("\"port\":\"61001/http\""))

            let clash = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml,
                                                 body: ByteBuffer(string: "name: c\nport: 61000/http\nroutes:\n  \"[127.0.0.1:8081]\": { weight: 100% }\n"))
            #expect(clash.status == .badRequest)
            #expect(Self.message(clash).contains("61000"))

            let internalName = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml,
                                                        body: ByteBuffer(string: "name: d/c/p\nport: 9000/http\nroutes:\n  \"[127.0.0.1:8081]\": { weight: 100% }\n"))
            #expect(internalName.status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/gateways/a", method: .delete).status == .accepted)
        }
    }

    @Test("several documents at /api/v1: one bad document and nothing is stored")
    func multipleDocuments() async throws {
        try await withAPI { client, store in
            let body = """
                kind: breed
                name: a:1.0
                deployable: acme/a:1.0
                ---
                kind: breed
                name: b:1.0
                deployable: acme/b:1.0
                ports: { web: not-a-port }
                """
            let refused = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: body))
            #expect(refused.status == .badRequest)
            #expect(try await store.list(kind: "breeds", page: PageRequest()).total == 0)

            let fixed = body.replacingOccurrences(of: "not-a-port", with: "8080/http")
            let accepted = try await client.execute(uri: "/api/v1", method: .post, headers: Self.yaml, body: ByteBuffer(string: fixed))
            #expect(accepted.status == .accepted)
            #expect(try await store.list(kind: "breeds", page: PageRequest()).total == 2)
        }
    }

    @Test("paging: X-Total-Count, Link with first/prev/next/last, a page past the end shows the last")
    func paging() async throws {
        let store = InMemoryArtifactStore()
        for index in 0..<35 {
            _ = try await store.create(kind: "breeds", name: String(format: "b%02d", index), body: Data("{\"name\":\"b\(index)\",\"deployable\":{\"type\":\"container/docker\",\"definition\":\"x\"}}".utf8))
        }
        try await withAPI(store) { client, _ in
            let response = try await client.execute(uri: "/api/v1/breeds?per_page=10&page=9", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("X-Total-Count")!] == "35")
            let link = response.headers[HTTPField.Name("Link")!] ?? ""
            #expect(link.contains("</api/v1/breeds?page=1&per_page=10>; rel=first"))
            #expect(link.contains("</api/v1/breeds?page=3&per_page=10>; rel=prev"))
            #expect(link.contains("</api/v1/breeds?page=4&per_page=10>; rel=next"))
            #expect(link.contains("</api/v1/breeds?page=4&per_page=10>; rel=last"))
            let items = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]]
            #expect(items?.count == 5)
            let capped = try await client.execute(uri: "/api/v1/breeds?per_page=1000", method: .get)
            #expect((try JSONSerialization.jsonObject(with: Data(capped.body.readableBytesView)) as? [Any])?.count == 30)
        }
    }
}
