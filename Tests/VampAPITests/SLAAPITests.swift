import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// `GET|PUT|POST|DELETE /deployments/{d}/clusters/{c}/sla` over real HTTP: read, replace, remove, stored SLAs by
/// name, generic types kept, and clear refusals.
@Suite("REST API: a cluster's SLA")
struct SLAAPITests {
    typealias API = DeploymentAPITests
    static let uri = "/api/v1/deployments/sava/clusters/web/sla"
    static let json: HTTPFields = [.accept: "application/json"]

    static let sla = """
        type: response_time_sliding_window
        threshold: {upper: 1000, lower: 100}
        window: {interval: 600, cooldown: 600}
        escalations:
          - type: scale_instances
            minimum: 1
            maximum: 3
            scale_by: 1
        """

    func withDeployment(_ body: @Sendable (any TestClientProtocol, Vamp) async throws -> Void) async throws {
        try await DeploymentAPITests().withAPI { client, vamp in
            let created = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: API.yaml, body: ByteBuffer(string: API.blueprint))
            #expect(created.status == .accepted, "\(API.text(created))")
            try await body(client, vamp)
        }
    }

    @Test("no SLA is a 404; PUT one: 202, GET answers it in JSON and YAML, an archive event is written; DELETE: 204, then 404")
    func replaceAndRemove() async throws {
        try await withDeployment { client, _ in
            #expect(try await client.execute(uri: Self.uri, method: .get, headers: Self.json).status == .notFound)

            let put = try await client.execute(uri: Self.uri, method: .put, headers: API.yaml, body: ByteBuffer(string: Self.sla))
            #expect(put.status == .accepted, "\(API.text(put))")
            let read = try await client.execute(uri: Self.uri, method: .get, headers: Self.json)
            #expect(read.status == .ok)
            let object = try #require(API.json(read) as? [String: Any])
            #expect(object["type"] as? String == "response_time_sliding_window")
            #expect((object["threshold"] as? [String: Any])?["upper"] as? Int == 1000)
            #expect((object["window"] as? [String: Any])?["cooldown"] as? Int == 600)
            let escalation = try #require((object["escalations"] as? [[String: Any]])?.first)
            #expect(escalation["type"] as? String == "scale_instances")
            #expect(escalation["maximum"] as? Int == 3)
            let yaml = try await client.execute(uri: Self.uri, method: .get, headers: [.accept: "application/x-yaml"])
            #expect(API.text(yaml).contains("type: response_time_sliding_window"), "\(API.text(yaml))")

            let archive = try await client.execute(uri: "/api/v1/events?tag=deployments:sava&tag=archive:update", method: .get, headers: Self.json)
            #expect((API.json(archive) as? [Any])?.count == 1)

            // The deployment shows it too.
            let deployment = try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: Self.json)
            #expect(API.text(deployment).contains("response_time_sliding_window"))

            let removed = try await client.execute(uri: Self.uri, method: .delete, headers: Self.json)
            #expect(removed.status == .noContent)
            #expect(try await client.execute(uri: Self.uri, method: .get, headers: Self.json).status == .notFound)
            #expect(!API.text(try await client.execute(uri: "/api/v1/deployments/sava", method: .get, headers: Self.json)).contains("response_time_sliding_window"))
            // Removing what is not there is still a 204; a cluster or deployment that is not there is a 404.
            #expect(try await client.execute(uri: Self.uri, method: .delete, headers: Self.json).status == .noContent)
            #expect(try await client.execute(uri: "/api/v1/deployments/sava/clusters/api/sla", method: .delete, headers: Self.json).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/deployments/nope/clusters/web/sla", method: .get, headers: Self.json).status == .notFound)
        }
    }

    @Test("a stored SLA by name: GET answers the reference; a name that is not stored is a 400 naming it")
    func storedByName() async throws {
        try await withDeployment { client, _ in
            let stored = try await client.execute(
                uri: "/api/v1/slas", method: .post, headers: API.yaml, body: ByteBuffer(string: "name: fast\n" + Self.sla))
            #expect(stored.status == .created || stored.status == .ok || stored.status == .accepted, "\(API.text(stored))")
            let put = try await client.execute(uri: Self.uri, method: .put, headers: API.yaml, body: ByteBuffer(string: "fast"))
            #expect(put.status == .accepted, "\(API.text(put))")
            let read = try await client.execute(uri: Self.uri, method: .get, headers: Self.json)
            #expect((API.json(read) as? [String: Any])?["reference"] as? String == "fast")

            let missing = try await client.execute(uri: Self.uri, method: .put, headers: API.yaml, body: ByteBuffer(string: "nope"))
            #expect(missing.status == .badRequest)
            #expect(API.message(missing).contains("there is no SLA 'nope'"), "\(API.message(missing))")
        }
    }

    @Test("another SLA type is kept as the original keeps it (and reported unsupported when checked)")
    func genericType() async throws {
        try await withDeployment { client, _ in
            let put = try await client.execute(
                uri: Self.uri, method: .put, headers: API.yaml, body: ByteBuffer(string: "type: error_rate\nmaximum: 5\n"))
            #expect(put.status == .accepted, "\(API.text(put))")
            let read = try await client.execute(uri: Self.uri, method: .get, headers: Self.json)
            let object = API.json(read) as? [String: Any]
            #expect(object?["type"] as? String == "error_rate")
            #expect(object?["maximum"] as? Int == 5, "\(API.text(read))")
        }
    }

    @Test("bad SLAs are refused with a 400 that names the field: thresholds out of order, an escalation's target, bounds, an unknown key, no body")
    func refusals() async throws {
        try await withDeployment { client, _ in
            func refused(_ body: String, _ expected: [String]) async throws {
                let response = try await client.execute(uri: Self.uri, method: .put, headers: API.yaml, body: ByteBuffer(string: body))
                #expect(response.status == .badRequest, "\(body): \(API.text(response))")
                let message = API.message(response)
                for part in expected { #expect(message.contains(part), "\(body): \(message)") }
            }
            try await refused(Self.sla.replacingOccurrences(of: "upper: 1000, lower: 100", with: "upper: 10, lower: 100"), ["threshold", "lower"])
            try await refused(Self.sla + "\n    target: api", ["escalations[0].target", "cluster 'api'"])
            try await refused(Self.sla.replacingOccurrences(of: "maximum: 3", with: "maximum: 0"), ["minimum"])
            try await refused(Self.sla.replacingOccurrences(of: "escalations:", with: "escalation:"), ["escalation"])
            try await refused("", ["empty"])
            // Nothing was stored by any of them.
            #expect(try await client.execute(uri: Self.uri, method: .get, headers: Self.json).status == .notFound)
        }
    }
}
