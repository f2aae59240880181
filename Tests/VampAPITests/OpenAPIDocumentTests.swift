import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore
import VampModel

/// The OpenAPI document: one copy, served as it is in the repository, covering the kinds the facade stores.
@Suite("REST API: the OpenAPI document")
struct OpenAPIDocumentTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func withAPI(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: VampHTTPAPI.router(vamp: Vamp(artifacts: InMemoryArtifactStore()), access: .open),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client) }
    }

    @Test("Documentation/openapi.yaml is a relative symlink to the VampAPI resource")
    func symlink() throws {
        let link = Self.repository.appendingPathComponent("Documentation/openapi.yaml").path
        let destination = try FileManager.default.destinationOfSymbolicLink(atPath: link)
        #expect(destination == "../Sources/VampAPI/Resources/openapi.yaml")
    }

    @Test("GET /api/v1/openapi.yaml answers the repository's file byte for byte, as application/x-yaml")
    func servedYAML() async throws {
        let file = try Data(contentsOf: Self.repository.appendingPathComponent("Documentation/openapi.yaml"))
        try await withAPI { client in
            let response = try await client.execute(uri: "/api/v1/openapi.yaml", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/x-yaml")
            #expect(Data(response.body.readableBytesView) == file)
        }
    }

    @Test("the document's paths reach the routes: /api/v1/ (the multi-document path `/` under the server /api/v1) is /api/v1")
    func trailingSlash() async throws {
        try await withAPI { client in
            let response = try await client.execute(uri: "/api/v1/", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x"))
            #expect(response.status == .badRequest)
        }
    }

    @Test("GET /api/v1/openapi.json is the same document as JSON, and it names every stored kind")
    func servedJSON() async throws {
        try await withAPI { client in
            let response = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = try #require(document["paths"] as? [String: Any])
            let components = try #require(document["components"] as? [String: Any])
            let parameters = try #require(components["parameters"] as? [String: Any])
            let kind = try #require((parameters["Kind"] as? [String: Any])?["schema"] as? [String: Any])
            var documented = Set(try #require(kind["enum"] as? [String]))
            for path in paths.keys where !path.contains("{") && ["/gateways", "/workflows"].contains(path) { documented.insert(String(path.dropFirst())) }
            #expect(documented == Set(Vamp.storedKinds.map(\.plural)))
            for path in ["/", "/{kind}", "/{kind}/{name}", "/gateways/{name}", "/workflows/{name}", "/deployments", "/events", "/events/stream", "/info", "/config"] {
                #expect(paths[path] != nil, "\(path) is not documented")
            }
        }
    }
}
