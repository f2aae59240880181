import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// A gateway on a port the server, the agent or HAProxy's stats use is refused at the API (issue 22).
@Suite("REST API: reserved gateway ports")
struct ReservedPortAPITests {
    static let reserved: [Int: String] = [
        8080: "vamp-server's API (vamp.http-api.port)",
        1988: "HAProxy's stats page (127.0.0.1:1988 in the gateway agents' base configuration)",
    ]

    func withAPI(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: .init(reservedPorts: Self.reserved))
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client) }
    }

    static func post(_ client: any TestClientProtocol, _ path: String, _ yaml: String) async throws -> (status: HTTPResponse.Status, message: String) {
        let response = try await client.execute(
            uri: path, method: .post, headers: [.contentType: "application/x-yaml", .accept: "application/json"], body: ByteBuffer(string: yaml))
        let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return (response.status, object?["message"] as? String ?? String(buffer: response.body))
    }

    @Test("POST /gateways with port 8080/http or 1988/http: 400 naming the port, what uses it and the setting; nothing stored")
    func directGateways() async throws {
        try await withAPI { client in
            for port in [8080, 1988] {
                let refused = try await Self.post(client, "/api/v1/gateways", "name: web\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:9]\": {weight: 100%}\n")
                #expect(refused.status == .badRequest)
                #expect(refused.message.contains("gateway 'web': port \(port) is reserved for \(Self.reserved[port]!)"), "\(refused.message)")
            }
            #expect(try await client.execute(uri: "/api/v1/gateways/web", method: .get).status == .notFound)
            let accepted = try await Self.post(client, "/api/v1/gateways", "name: web\nport: 8081/http\nroutes:\n  \"[127.0.0.1:9]\": {weight: 100%}\n")
            #expect(accepted.status == .accepted, "\(accepted.message)")
        }
    }

    @Test("a blueprint whose gateway asks for 8080 is refused at POST /deployments with the same message")
    func blueprintGateway() async throws {
        try await withAPI { client in
            let blueprint = """
                name: sava
                gateways:
                  8080/http: web/web
                clusters:
                  web:
                    services:
                      - breed:
                          name: sava:1.0
                          deployable: {type: command, definition: "sava --text sava:1.0"}
                          ports: {web: 8080/http}
                """
            let refused = try await Self.post(client, "/api/v1/deployments", blueprint)
            #expect(refused.status == .badRequest)
            #expect(refused.message.contains("gateway 'sava/8080': port 8080 is reserved for vamp-server's API (vamp.http-api.port)"), "\(refused.message)")
            #expect(try await client.execute(uri: "/api/v1/deployments/sava", method: .get).status == .notFound)
        }
    }
}
