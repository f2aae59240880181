import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Persistence
import Testing
import VampAPI
import VampCore

/// One answer read off a raw connection: what a browser would see.
struct RawResponse {
    let status: Int
    /// Header names in lower case.
    let headers: [String: String]
    let body: String

    init(_ text: String) {
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        body = parts.dropFirst().joined(separator: "\r\n\r\n")
    }

    var message: String {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["message"] as? String ?? ""
    }

    /// Sends `method path` with `headers` (a `Host` of its own when `host` is given, none when it is empty) on a new
    /// connection, and reads the answer.
    static func exchange(
        port: Int, _ method: String, _ path: String, host: String? = nil, headers: [String: String] = [:], body: String = "",
        version: String = "HTTP/1.1"
    ) throws -> RawResponse {
        var head = "\(method) \(path) \(version)\r\n"
        let host = host ?? "127.0.0.1:\(port)"
        if !host.isEmpty { head += "Host: \(host)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if headers["Content-Length"] == nil, !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.utf8.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        let connection = try RawConnection(port: port)
        connection.send(Array((head + body).utf8))
        return RawResponse(connection.readUntilClosed(deadline: .now + .seconds(10)).text)
    }
}

/// Browsers: the Host check against DNS rebinding, and CORS (no `Access-Control-Allow-Origin: *`; foreign origins
/// refused; configured origins allowed exactly).
@Suite("REST API: browsers, origins and hosts", .serialized)
struct BrowserProtectionTests {
    func withServer(
        origins: [String] = [], hosts: [String] = [], _ body: @Sendable (_ port: Int) async throws -> Void
    ) async throws {
        var configuration = VampAPIConfiguration()
        configuration.allowedOrigins = origins
        configuration.allowedHosts = hosts
        let app = Application(
            router: VampHTTPAPI.router(vamp: Vamp(artifacts: InMemoryArtifactStore()), access: .open, configuration: configuration),
            server: VampHTTPAPI.server(configuration: configuration),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    static let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\n"

    @Test("a foreign Host (DNS rebinding) is refused 421 naming the host and the setting; addresses, localhost and no Host are served",
          .timeLimit(.minutes(1)))
    func foreignHost() async throws {
        try await withServer { port in
            for host in ["evil.example:\(port)", "evil.example", "127.0.0.1.nip.io:\(port)", "localhost.evil.example"] {
                let refused = try RawResponse.exchange(port: port, "GET", "/api/v1/info", host: host)
                #expect(refused.status == 421, "\(host): \(refused.status) \(refused.body)")
                #expect(refused.message.contains(host.split(separator: ":")[0]) && refused.message.contains("vamp.http-api.allowed-hosts"), "\(refused.body)")
                #expect(refused.headers["access-control-allow-origin"] == nil)
            }
            let created = try RawResponse.exchange(
                port: port, "POST", "/api/v1/breeds", host: "evil.example:\(port)", headers: ["Content-Type": "application/x-yaml"], body: Self.breed)
            #expect(created.status == 421)
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST.", "[::1]:\(port)", "10.1.2.3"] {
                #expect(try RawResponse.exchange(port: port, "GET", "/api/v1/info", host: host).status == 200, "\(host)")
            }
            #expect(try RawResponse.exchange(port: port, "GET", "/api/v1/info", host: "", version: "HTTP/1.0").status == 200, "no Host (HTTP/1.0)")
            let breeds = try RawResponse.exchange(port: port, "GET", "/api/v1/breeds", headers: ["Accept": "application/json"])
            #expect(breeds.headers["x-total-count"] == "0", "the refused POST stored nothing")
        }
    }

    @Test("names in allowed-hosts are served: exact, *.domain for the names under it, * for any", .timeLimit(.minutes(1)))
    func allowedHosts() async throws {
        try await withServer(hosts: ["vamp.example.com", "*.corp.example"]) { port in
            for (host, expected) in [("vamp.example.com:8080", 200), ("VAMP.example.com", 200), ("api.corp.example", 200), ("corp.example", 421), ("evil.example", 421)] {
                let answer = try RawResponse.exchange(port: port, "GET", "/api/v1/info", host: host)
                #expect(answer.status == expected, "\(host)")
            }
        }
        try await withServer(hosts: ["*"]) { port in
            let answer = try RawResponse.exchange(port: port, "GET", "/api/v1/info", host: "evil.example")
            #expect(answer.status == 200)
        }
    }

    @Test("by default a foreign origin's preflight for DELETE with JSON gets no allow, and its requests are refused 403 naming the setting",
          .timeLimit(.minutes(1)))
    func foreignOrigin() async throws {
        try await withServer { port in
            let preflight = try RawResponse.exchange(port: port, "OPTIONS", "/api/v1/deployments/shop", headers: [
                "Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "content-type",
            ])
            #expect(preflight.headers["access-control-allow-origin"] == nil, "\(preflight.headers)")
            #expect(preflight.headers["access-control-allow-methods"] == nil)
            #expect(preflight.status == 403)
            let posted = try RawResponse.exchange(port: port, "POST", "/api/v1/breeds", headers: [
                "Origin": "https://evil.example", "Content-Type": "application/x-yaml",
            ], body: Self.breed)
            #expect(posted.status == 403)
            #expect(posted.message.contains("https://evil.example") && posted.message.contains("vamp.http-api.cors.allowed-origins"), "\(posted.body)")
            #expect(posted.headers["access-control-allow-origin"] == nil)
            // The server's own origin (a UI it serves) needs no CORS and gets none.
            let own = try RawResponse.exchange(port: port, "POST", "/api/v1/breeds", headers: [
                "Origin": "http://127.0.0.1:\(port)", "Content-Type": "application/x-yaml",
            ], body: Self.breed)
            #expect(own.status == 201, "\(own.body)")
            #expect(own.headers["access-control-allow-origin"] == nil)
            let breeds = try RawResponse.exchange(port: port, "GET", "/api/v1/breeds", headers: ["Accept": "application/json"])
            #expect(breeds.headers["x-total-count"] == "1", "only the own origin's POST stored a breed")
        }
    }

    @Test("configured origins are allowed exactly: the origin echoed with Vary, Authorization and If-Match allowed, Link, X-Total-Count and ETag exposed",
          .timeLimit(.minutes(1)))
    func configuredOrigins() async throws {
        try await withServer(origins: ["https://ui.example.com", "http://localhost:3000"]) { port in
            let preflight = try RawResponse.exchange(port: port, "OPTIONS", "/api/v1/deployments/shop", headers: [
                "Origin": "https://ui.example.com", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "authorization, if-match",
            ])
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == "https://ui.example.com")
            #expect(preflight.headers["vary"] == "Origin")
            let allowed = preflight.headers["access-control-allow-headers"] ?? ""
            #expect(allowed.contains("Authorization") && allowed.contains("If-Match") && allowed.contains("Content-Type"), "\(allowed)")
            #expect((preflight.headers["access-control-allow-methods"] ?? "").contains("DELETE"))
            #expect(preflight.headers["access-control-allow-credentials"] == nil)

            let listed = try RawResponse.exchange(port: port, "GET", "/api/v1/breeds", headers: ["Origin": "http://localhost:3000"])
            #expect(listed.status == 200)
            #expect(listed.headers["access-control-allow-origin"] == "http://localhost:3000")
            let exposed = listed.headers["access-control-expose-headers"] ?? ""
            #expect(exposed.contains("Link") && exposed.contains("X-Total-Count") && exposed.contains("ETag"), "\(exposed)")

            let other = try RawResponse.exchange(port: port, "GET", "/api/v1/breeds", headers: ["Origin": "https://ui.example.com.evil.example"])
            #expect(other.status == 403)
            #expect(other.headers["access-control-allow-origin"] == nil)
        }
        try await withServer(origins: ["*"]) { port in
            let any = try RawResponse.exchange(port: port, "GET", "/api/v1/info", headers: ["Origin": "https://anywhere.example"])
            #expect(any.status == 200)
            #expect(any.headers["access-control-allow-origin"] == "*")
            #expect(any.headers["access-control-allow-credentials"] == nil, "never credentials with *")
        }
    }

    @Test("no answer carries Access-Control-Allow-Origin: * by default, live or from the router in-process", .timeLimit(.minutes(1)))
    func neverAllOrigins() async throws {
        let requests: [(String, String, [String: String], String)] = [
            ("GET", "/api/v1/info", [:], ""), ("GET", "/api/v1/breeds", ["Accept": "application/json"], ""),
            ("GET", "/no/such/route", [:], ""), ("HEAD", "/api/v1/info", [:], ""), ("OPTIONS", "/api/v1/breeds", [:], ""),
            ("POST", "/api/v1/breeds", ["Content-Type": "text/plain"], "x"), ("POST", "/api/v1/breeds", ["Content-Type": "application/x-yaml"], "[[["),
            ("DELETE", "/api/v1/breeds/none", [:], ""), ("PUT", "/api/v1/config", [:], ""), ("GET", "/api/v1/openapi.yaml", [:], ""),
            ("GET", "/api/v1/events/none", [:], ""),
        ]
        let origins: [[String: String]] = [
            [:], ["Origin": "https://evil.example"], ["Origin": "null"],
            ["Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"],
        ]
        try await withServer { port in
            for (method, path, headers, body) in requests {
                for origin in origins {
                    let answer = try RawResponse.exchange(port: port, method, path, headers: headers.merging(origin) { $1 }, body: body)
                    #expect(answer.status != 0)
                    #expect(answer.headers["access-control-allow-origin"] == nil, "\(method) \(path) \(origin): \(answer.headers)")
                }
            }
            let oversized = try RawResponse.exchange(port: port, "POST", "/api/v1/breeds", headers: ["Content-Length": "999999999", "Origin": "https://evil.example"])
            #expect(oversized.headers["access-control-allow-origin"] == nil)
        }
        let app = Application(router: VampHTTPAPI.router(vamp: Vamp(artifacts: InMemoryArtifactStore()), access: .open))
        try await app.test(.router) { client in
            for (method, path, headers, body) in requests {
                for origin in origins {
                    var fields = HTTPFields()
                    for (name, value) in headers.merging(origin, uniquingKeysWith: { $1 }) { fields[HTTPField.Name(name)!] = value }
                    let answer = try await client.execute(
                        uri: path, method: HTTPRequest.Method(method)!, headers: fields, body: body.isEmpty ? nil : ByteBuffer(string: body))
                    #expect(answer.headers[.accessControlAllowOrigin] == nil, "\(method) \(path) \(origin)")
                }
            }
        }
    }
}
