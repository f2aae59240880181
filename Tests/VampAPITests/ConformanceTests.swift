import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// What schemathesis found where the server and `openapi.yaml` disagreed (issue 22), each pinned by a request:
/// undeclared methods, query parameters and headers that were quietly misread, a 404 hidden behind a body error.
@Suite("REST API: conformance to openapi.yaml")
struct ConformanceTests {
    static let json: HTTPFields = [.contentType: "application/json"]
    static let breed = #"{"name": "sava:1.0", "deployable": "magneticio/sava:1.0.0", "ports": {"web": "8080/http"}}"#

    func withAPI(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: VampHTTPAPI.router(vamp: Vamp(artifacts: InMemoryArtifactStore()), access: .open),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client) }
    }

    static func message(_ response: TestResponse) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return "" }
        return object["message"] as? String ?? ""
    }

    // MARK: 405

    @Test("a method a known path does not serve is 405 with Allow, not 404", arguments: [
        ("/api/v1/info", "TRACE", "GET"),
        ("/api/v1/events", "PATCH", "GET, POST"),
        ("/api/v1/breeds", "DELETE", "GET, POST"),
        ("/api/v1/breeds/sava:1.0", "POST", "GET, PUT, DELETE"),
        ("/api/v1/gateways/a/b", "PATCH", "GET, PUT, DELETE"),
        ("/api/v1", "GET", "POST, PUT, DELETE"),
        ("/api/v1/deployments/d/clusters/c/sla", "PATCH", "GET, PUT, POST, DELETE"),
        ("/api/v1/health/gateways/g", "DELETE", "GET"),
        ("/api/v1/docker-compose", "GET", "POST"),
        ("/default/api/v1/openapi.yaml", "QUERY", "GET"),
    ])
    func methodNotAllowed(path: String, method: String, allow: String) async throws {
        try await withAPI { client in
            let response = try await client.execute(uri: path, method: HTTPRequest.Method(method)!)
            #expect(response.status == .methodNotAllowed, "\(method) \(path)")
            #expect(response.headers[.allow] == allow)
            #expect(Self.message(response).contains("use \(allow)"))
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }

    @Test("PUT and POST /config and the HAProxy template are 405 and say why (they are read at start)")
    func readOnly() async throws {
        try await withAPI { client in
            for path in ["/api/v1/config", "/api/v1/vga/haproxy/2.6/template"] {
                for method in [HTTPRequest.Method.put, .post] {
                    let response = try await client.execute(uri: path, method: method, headers: Self.json, body: ByteBuffer(string: "{}"))
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == "GET")
                    #expect(Self.message(response).contains("restart"))
                }
            }
        }
    }

    @Test("OPTIONS answers 204 with Allow; an unknown kind stays a 404 whatever the method")
    func optionsAndUnknown() async throws {
        try await withAPI { client in
            let options = try await client.execute(uri: "/api/v1/deployments", method: .options)
            #expect(options.status == .noContent)
            #expect(options.headers[.allow] == "GET, POST")
            for method in [HTTPRequest.Method.trace, .patch, .get] {
                let unknown = try await client.execute(uri: "/api/v1/nonsense/x", method: method)
                #expect(unknown.status == .notFound, "\(method)")
            }
        }
    }

    @Test("every method the table lists is served: none of them answers 405")
    func tableServed() async throws {
        try await withAPI { client in
            let routes: [(String, [HTTPRequest.Method])] = [
                ("/api/v1/openapi.yaml", [.get]), ("/api/v1/deployments", [.get]), ("/api/v1/deployments/d", [.get, .delete]),
                ("/api/v1/deployments/d/clusters/c/services/s/scale", [.get, .put]), ("/api/v1/deployments/d/clusters/c/sla", [.get, .put, .post, .delete]),
                ("/api/v1/events", [.get, .post]), ("/api/v1/health/gateways/g", [.get]), ("/api/v1/metrics/gateways/g/rate", [.get]),
                ("/api/v1/info", [.get]), ("/api/v1/config", [.get]), ("/api/v1/config/vamp", [.get]),
                ("/api/v1/vga/haproxy/2.6/configuration", [.get]), ("/api/v1/vga/haproxy/2.6/template", [.get]), ("/api/v1/docker-compose", [.post]),
                ("/api/v1", [.post, .put, .delete]), ("/api/v1/breeds", [.get, .post]), ("/api/v1/breeds/x", [.get, .put, .delete]),
            ]
            for (path, methods) in routes {
                for method in methods {
                    let response = try await client.execute(uri: path, method: method, headers: Self.json, body: ByteBuffer(string: "{}"))
                    #expect(response.status != .methodNotAllowed, "\(method) \(path)")
                }
            }
        }
    }

    // MARK: Query parameters and headers

    @Test("validate_only=null is a 400 naming it, and nothing is stored (it used to mean false: a real write)")
    func flagRefused() async throws {
        try await withAPI { client in
            let refused = try await client.execute(uri: "/api/v1/breeds?validate_only=null", method: .post, headers: Self.json, body: ByteBuffer(string: Self.breed))
            #expect(refused.status == .badRequest)
            #expect(Self.message(refused).contains("validate_only"))
            #expect(Self.message(refused).contains("true or false"))
            let read = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get)
            #expect(read.status == .notFound)
            let yes = try await client.execute(uri: "/api/v1/breeds?validate_only=TRUE", method: .post, headers: Self.json, body: ByteBuffer(string: Self.breed))
            #expect(yes.status == .created)
        }
    }

    @Test("page and per_page must be whole numbers given once; out-of-range numbers are clamped as before", arguments: [
        ("per_page=null", "per_page"), ("page=1.5", "page"), ("page=1&page=2", "given 2 times"),
        ("only_references=1e308", "only_references"), ("expand_references=true&expand_references=true", "expand_references"),
    ])
    func pagingRefused(query: String, named: String) async throws {
        try await withAPI { client in
            let response = try await client.execute(uri: "/api/v1/breeds?\(query)", method: .get)
            #expect(response.status == .badRequest, "\(query)")
            #expect(Self.message(response).contains(named))
        }
    }

    @Test("a page number past Int is the last page, a negative per_page is 1 (Vamp 0.9.5's clamping)")
    func pagingClamped() async throws {
        try await withAPI { client in
            for query in ["page=99999999999999999999999", "per_page=-3", "page=+2", "per_page=99999999999999999999999"] {
                let response = try await client.execute(uri: "/api/v1/breeds?\(query)", method: .get)
                #expect(response.status == .ok, "\(query)")
            }
        }
    }

    @Test("If-Match that is no ETag of ours is a 400 naming the header; a well-formed other version stays 412")
    func ifMatch() async throws {
        try await withAPI { client in
            _ = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.json, body: ByteBuffer(string: Self.breed))
            var garbage = Self.json
            garbage[.ifMatch] = #"W/"__main__""#
            let refused = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete, headers: garbage)
            #expect(refused.status == .badRequest)
            #expect(Self.message(refused).contains("If-Match"))
            for tag in [#""7""#, #"W/"0""#, "7", #""123456789012345678901234567890""#] {
                var other = Self.json
                other[.ifMatch] = tag
                let stale = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete, headers: other)
                #expect(stale.status == .preconditionFailed, "\(tag)")
            }
            var star = Self.json
            star[.ifMatch] = "*"
            let deleted = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete, headers: star)
            #expect(deleted.status == .noContent)
        }
    }

    @Test("an empty If-Match is a 400, not a missing header")
    func emptyIfMatch() async throws {
        try await withAPI { client in
            _ = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.json, body: ByteBuffer(string: Self.breed))
            var empty = Self.json
            empty[.ifMatch] = ""
            let refused = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .delete, headers: empty)
            #expect(refused.status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get).status == .ok)
        }
    }

    @Test("JSON with an escaped surrogate pair (Python's json.dumps of an emoji) is read: the character, not a 400")
    func surrogatePairs() async throws {
        try await withAPI { client in
            let body = #"{"tags": ["mood:\ud83d\ude00", "plain\\ud83d"], "value": "caf\u00e9 \uD83C\uDF89"}"#
            let response = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json, body: ByteBuffer(string: body))
            #expect(response.status == .created, "\(String(buffer: response.body))")
            let event = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect((event["tags"] as? [String])?.contains("mood:😀") == true)
            #expect((event["tags"] as? [String])?.contains(#"plain\ud83d"#) == true)
            #expect(event["value"] as? String == "café 🎉")
        }
    }

    @Test("an event whose id is stored already is a 409 conflict, not a 400")
    func duplicateEvent() async throws {
        try await withAPI { client in
            let body = ByteBuffer(string: #"{"id": "event-1", "tags": ["d"]}"#)
            #expect(try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json, body: body).status == .created)
            let again = try await client.execute(uri: "/api/v1/events", method: .post, headers: Self.json, body: body)
            #expect(again.status == .conflict)
            #expect(Self.message(again).contains("event-1"))
        }
    }

    @Test("a body that holds no artifact ([] in JSON or YAML) is a 400, not a 202 that did nothing")
    func emptyList() async throws {
        try await withAPI { client in
            for (path, method) in [("/api/v1", HTTPRequest.Method.post), ("/api/v1", .put), ("/api/v1", .delete), ("/api/v1/breeds", .post)] {
                for contentType in ["application/json", "application/x-yaml"] {
                    let response = try await client.execute(uri: path, method: method, headers: [.contentType: contentType], body: ByteBuffer(string: "[]"))
                    #expect(response.status == .badRequest, "\(method) \(path) \(contentType)")
                    #expect(Self.message(response).contains("no artifact"))
                }
            }
        }
    }

    @Test("GET /events refuses a wrong type parameter even when a body holds the query")
    func eventTypeWithBody() async throws {
        try await withAPI { client in
            let response = try await client.execute(uri: "/api/v1/events?type=", method: .get, headers: Self.json, body: ByteBuffer(string: #"{"tags": []}"#))
            #expect(response.status == .badRequest)
            #expect(Self.message(response).contains("type"))
        }
    }

    @Test("a scale or SLA written to a deployment that is not there is a 404, whatever the body")
    func missingDeployment() async throws {
        try await withAPI { client in
            let scale = try await client.execute(uri: "/api/v1/deployments/d/clusters/c/services/s/scale", method: .put, headers: Self.json,
                                                 body: ByteBuffer(string: #"{"name": "", "x": 1}"#))
            #expect(scale.status == .notFound)
            for method in [HTTPRequest.Method.put, .post, .delete] {
                let sla = try await client.execute(uri: "/api/v1/deployments/d/clusters/c/sla", method: method, headers: Self.json, body: ByteBuffer(string: #"{"name": "sava"}"#))
                #expect(sla.status == .notFound, "\(method)")
            }
        }
    }
}
