import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Persistence
import Testing
import VampAPI
import VampCore

/// Issue 23 through HTTP: what HAProxy could not be given (names that are no DNS labels, ports with a sign or a
/// leading zero, sizes past the limits, dependency cycles, a condition the generator refuses on a cluster gateway,
/// a virtual host two deployments would share) is a 400 naming the artifact and the field, the same with
/// `validate_only=true` as for the real write, and nothing is stored.
@Suite("REST API: refused before it reaches HAProxy, with and without validate_only")
struct RenderableWriteAPITests {
    static let yaml: HTTPFields = [.contentType: "application/x-yaml", .accept: "application/json"]

    func withAPI(_ configuration: Vamp.Configuration = .init(), _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore(), configuration: configuration)
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(client) }
    }

    static func message(_ response: TestResponse) -> String {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return object?["message"] as? String ?? String(buffer: response.body)
    }

    static func blueprint(name: String = "shop", cluster: String = "web", port: String = "web", breed: String = "sava:1.0", extra: String = "") -> String {
        """
        name: '\(name)'
        clusters:
          \(cluster):
            services:
              - breed:
                  name: \(breed)
                  deployable: {type: command, definition: "sava"}
                  ports: {\(port): 8080/http}
        \(extra)
        """
    }

    /// Sends the request with `validate_only=true`, then for real: both are 400 with the same message, which holds
    /// every fragment; then `stored` (a GET) is still 404.
    func expectRefused(
        _ client: any TestClientProtocol, _ uri: String, _ method: HTTPRequest.Method = .post, body: String, _ fragments: [String],
        stored: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let separator = uri.contains("?") ? "&" : "?"
        let checked = try await client.execute(uri: uri + separator + "validate_only=true", method: method, headers: Self.yaml, body: ByteBuffer(string: body))
        let written = try await client.execute(uri: uri, method: method, headers: Self.yaml, body: ByteBuffer(string: body))
        #expect(checked.status == .badRequest, "validate_only: \(checked.status) \(Self.message(checked))", sourceLocation: sourceLocation)
        #expect(written.status == .badRequest, "write: \(written.status) \(Self.message(written))", sourceLocation: sourceLocation)
        #expect(Self.message(checked) == Self.message(written), sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(Self.message(written).contains(fragment), "'\(fragment)' not in: \(Self.message(written))", sourceLocation: sourceLocation)
        }
        if let stored {
            let read = try await client.execute(uri: stored, method: .get, headers: [.accept: "application/json"])
            #expect(read.status == .notFound, "\(stored) was stored", sourceLocation: sourceLocation)
        }
    }

    @Test("deployment names that cannot be DNS labels: 400 with the field, as POST, PUT and a kind: deployment document")
    func deploymentNames() async throws {
        try await withAPI { client in
            for name in ["-x", "x-", "-", "_", ".."] {
                // `..` in a URL path is the parent folder to HTTP: it is sent only in bodies.
                let stored = name == ".." ? nil : "/api/v1/deployments/\(name)"
                try await expectRefused(client, "/api/v1/deployments", body: Self.blueprint(name: name), ["deployment '\(name)'", "field name", "illegal deployment name"], stored: stored)
                try await expectRefused(client, "/api/v1", body: "kind: deployment\n" + Self.blueprint(name: name), ["deployment '\(name)'", "field name"], stored: stored)
                if name != ".." {
                    try await expectRefused(client, "/api/v1/deployments/\(name)", .put, body: Self.blueprint(), ["deployment '\(name)'", "field name"], stored: stored)
                }
            }
            // Vamp's own names stay valid.
            let sava = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint(name: "sava:1.0")))
            #expect(sava.status == .accepted, "\(Self.message(sava))")
        }
    }

    @Test("cluster, port and gateway names that cannot be DNS labels: 400 naming the field")
    func otherNames() async throws {
        try await withAPI { client in
            try await expectRefused(client, "/api/v1/blueprints", body: Self.blueprint(cluster: "x-"), ["blueprint 'shop'", "field clusters.x-", "illegal cluster name"], stored: "/api/v1/blueprints/shop")
            try await expectRefused(client, "/api/v1/deployments", body: Self.blueprint(port: "_"), ["field clusters.web.services[0].breed.ports._", "illegal port name"], stored: "/api/v1/deployments/shop")
            try await expectRefused(client, "/api/v1/gateways", body: "name: \"-x\"\nport: 9050/http\nroutes: \"[127.0.0.1:8080]\"\n", ["gateway '-x'", "field name", "illegal gateway name"], stored: "/api/v1/gateways/-x")
            try await expectRefused(client, "/api/v1/gateways", body: "name: shop/..\nport: 9050/http\nroutes: \"[127.0.0.1:8080]\"\n", ["field name", "DNS label '--'"])
        }
    }

    @Test("ports written +9835 or 09834: 400 in breeds, gateways and blueprint gateway keys")
    func ports() async throws {
        try await withAPI { client in
            for bad in ["+9835", "09834"] {
                try await expectRefused(client, "/api/v1/breeds", body: "name: a:1\ndeployable: x\nports: {web: \(bad)/http}\n", ["field ports.web", "'\(bad)/http'", "no sign, no leading zero"], stored: "/api/v1/breeds/a:1")
                try await expectRefused(client, "/api/v1/gateways", body: "name: g\nport: \(bad)/http\nroutes: \"[127.0.0.1:8080]\"\n", ["gateway 'g'", "field port", "no sign, no leading zero"], stored: "/api/v1/gateways/g")
                try await expectRefused(client, "/api/v1/deployments", body: Self.blueprint(extra: "gateways: {\"\(bad)/http\": web/web}"), ["field gateways.\(bad)/http", "without a sign or a leading zero"], stored: "/api/v1/deployments/shop")
            }
        }
    }

    static let cycle = """
        name: loop
        clusters:
          one:
            breed: {name: a:1, deployable: x, ports: {web: 8080}, dependencies: {b: b:1}}
          two:
            breed: {name: b:1, deployable: x, ports: {web: 8080}, dependencies: {a: a:1}}
        """

    @Test("a dependency cycle is the same 400 with and without validate_only: inline, and through stored breeds")
    func dependencyCycle() async throws {
        try await withAPI { client in
            try await expectRefused(client, "/api/v1/deployments", body: Self.cycle, ["blueprint 'loop'", "field clusters.two.services[0].breed.dependencies.a", "dependency cycle"], stored: "/api/v1/deployments/loop")
            try await expectRefused(client, "/api/v1/blueprints", body: Self.cycle, ["dependency cycle"], stored: "/api/v1/blueprints/loop")
            // The breeds stored first, the blueprint naming them: only the deployment knows their dependencies.
            for breed in ["name: a:1\ndeployable: x\nports: {web: 8080}\ndependencies: {b: b:1}\n", "name: b:1\ndeployable: x\nports: {web: 8080}\ndependencies: {a: a:1}\n"] {
                let stored = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: breed))
                #expect(stored.status == .created, "\(Self.message(stored))")
            }
            try await expectRefused(
                client, "/api/v1/deployments", body: "name: loop\nclusters:\n  one: a:1\n  two: b:1\n",
                ["deployment 'loop'", "field clusters.two.services.b:1.breed.dependencies.a", "dependency cycle: breed 'a:1' in cluster 'one'"], stored: "/api/v1/deployments/loop")
            // A merge that closes a cycle is refused too: p:1 depends on any q, and the canary q:2 depends on p:1.
            for breed in ["name: p:1\ndeployable: x\nports: {web: 8080}\ndependencies: {q: q:*}\n", "name: q:1\ndeployable: x\nports: {web: 8080}\n",
                          "name: q:2\ndeployable: x\nports: {web: 8080}\ndependencies: {p: p:1}\n"] {
                let stored = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: Self.yaml, body: ByteBuffer(string: breed))
                #expect(stored.status == .created, "\(Self.message(stored))")
            }
            let first = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: "name: merge\nclusters:\n  one: p:1\n  two: q:1\n"))
            #expect(first.status == .accepted, "\(Self.message(first))")
            try await expectRefused(
                client, "/api/v1/deployments/merge", .put, body: "name: merge\nclusters:\n  two: q:2\n",
                ["deployment 'merge'", "field clusters.two.services.q:2.breed.dependencies.p", "dependency cycle"])
        }
    }

    @Test("limits: a gateway of 100 routes is taken, 101 is a 400 naming the limit; 1001 instances are refused")
    func limits() async throws {
        try await withAPI { client in
            func gateway(_ name: String, routes: Int) -> String {
                "name: \(name)\nport: 0/http\nroutes:\n" + (0..<routes).map { "  \"[10.0.\($0 / 256).\($0 % 256):80]\": {}\n" }.joined()
            }
            let atLimit = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml, body: ByteBuffer(string: gateway("full", routes: 100)))
            #expect(atLimit.status == .created || atLimit.status == .accepted, "\(Self.message(atLimit))")
            try await expectRefused(client, "/api/v1/gateways", body: gateway("over", routes: 101), ["gateway 'over'", "field routes", "101 routes; at most 100"], stored: "/api/v1/gateways/over")
            try await expectRefused(client, "/api/v1/scales", body: "name: big\ncpu: 0.1\nmemory: 64MB\ninstances: 1001\n", ["scale 'big'", "field instances", "at most 1000"], stored: "/api/v1/scales/big")
            let hosts = (0..<65).map { "h\($0).example.test" }.joined(separator: ", ")
            try await expectRefused(client, "/api/v1/gateways", body: "name: vh\nport: 0/http\nvirtual_hosts: [\(hosts)]\nroutes: \"[127.0.0.1:80]\"\n", ["field virtual_hosts", "at most 64"], stored: "/api/v1/gateways/vh")
        }
    }

    @Test("totals: the routes of all gateways and the instances of all services up to the limit, one more is a 400; removing still works")
    func totals() async throws {
        var configuration = Vamp.Configuration()
        configuration.maximumRoutes = 5
        configuration.maximumInstances = 4
        try await withAPI(configuration) { client in
            func gateway(_ name: String, routes: Int) -> String {
                "name: \(name)\nport: 0/http\nroutes:\n" + (0..<routes).map { "  \"[10.0.0.\($0 + 1):80]\": {}\n" }.joined()
            }
            // A deployment of one service at 3 instances: one internal gateway of one route.
            let deployment = Self.blueprint(name: "d").replacingOccurrences(of: "ports: {web: 8080/http}", with: "ports: {web: 8080/http}\n        scale: {cpu: 0.1, memory: 64MB, instances: 3}")
            let deployed = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: deployment))
            #expect(deployed.status == .accepted, "\(Self.message(deployed))")
            let four = try await client.execute(uri: "/api/v1/gateways", method: .post, headers: Self.yaml, body: ByteBuffer(string: gateway("a", routes: 4)))
            #expect(four.status == .created || four.status == .accepted, "1 + 4 routes is the limit: \(Self.message(four))")
            try await expectRefused(client, "/api/v1/gateways", body: gateway("b", routes: 1), ["gateway 'b', field routes", "6 routes in total; at most 5"], stored: "/api/v1/gateways/b")
            // Fewer routes are taken although the total is at the limit.
            let fewer = try await client.execute(uri: "/api/v1/gateways/a", method: .put, headers: Self.yaml, body: ByteBuffer(string: gateway("a", routes: 2)))
            #expect(fewer.status == .ok || fewer.status == .accepted, "\(Self.message(fewer))")

            // Instances: 3 deployed; a scale of 4 is the limit, 5 is refused.
            let scale = "/api/v1/deployments/d/clusters/web/services/sava:1.0/scale"
            let atLimit = try await client.execute(uri: scale, method: .put, headers: Self.yaml, body: ByteBuffer(string: "{cpu: 0.1, memory: 64MB, instances: 4}"))
            #expect(atLimit.status == .ok || atLimit.status == .accepted, "\(Self.message(atLimit))")
            let past = try await client.execute(uri: scale, method: .put, headers: Self.yaml, body: ByteBuffer(string: "{cpu: 0.1, memory: 64MB, instances: 5}"))
            #expect(past.status == .badRequest)
            #expect(Self.message(past).contains("deployment 'd', field scale.instances: ") && Self.message(past).contains("5 instances in total; at most 4"), "\(Self.message(past))")
            let other = Self.blueprint(name: "e", breed: "other:1.0")
            try await expectRefused(client, "/api/v1/deployments", body: other, ["deployment 'e', field scale.instances", "5 instances in total; at most 4"], stored: "/api/v1/deployments/e")
        }
    }

    @Test("a cluster gateway that cannot be rendered once its services run is refused when written, not when they start")
    func clusterGatewaysRenderedAsServed() async throws {
        try await withAPI { client in
            // A raw ACL the generator refuses (a regular expression), on a cluster gateway whose service does not run.
            let regex = """
                name: acl
                clusters:
                  web:
                    services:
                      - breed: {name: sava:1.0, deployable: {type: command, definition: sava}, ports: {web: 8080/http}}
                    gateways:
                      web:
                        routes:
                          sava:1.0:
                            condition: "< path_reg ^/x( >"
                """
            try await expectRefused(client, "/api/v1/deployments", body: regex, ["gateway 'acl/web/web'", "path_reg"], stored: "/api/v1/deployments/acl")

            // Two deployments whose default virtual hosts would be the same (`web.web.a-b.vamp`): the second is refused.
            let first = try await client.execute(uri: "/api/v1/deployments", method: .post, headers: Self.yaml, body: ByteBuffer(string: Self.blueprint(name: "a.b")))
            #expect(first.status == .accepted, "\(Self.message(first))")
            try await expectRefused(client, "/api/v1/deployments", body: Self.blueprint(name: "a_b", breed: "other:1.0"), ["web.web.a-b.vamp", "a.b/web/web"], stored: "/api/v1/deployments/a_b")
        }
    }
}
