import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-server` against browsers and slow clients: a foreign `Host` and a foreign `Origin` with the
/// default settings, and the settings that loosen or tighten them given as `VAMP_*` variables.
@Suite("vamp-server executable: browsers and slow clients", .serialized)
struct HTTPProtectionServerTests {
    static func started(_ folder: TemporaryDirectory, environment: [String: String] = [:], in client: HTTPClient) async throws -> (ExternalProcess, Int) {
        let port = try FreePort.next()
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: environment)
        try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") {
            (try? await ServerExecutableTests.call(client, .GET, "http://127.0.0.1:\(port)/api/v1/info").status) == 200
        }
        return (server, port)
    }

    static func call(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)]) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response
    }

    @Test("by default: a foreign Host is 421, a foreign origin's preflight has no allow and its request is 403; localhost and 127.0.0.1 are served",
          .timeLimit(.minutes(2)))
    func defaults() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-browsers")
        defer { folder.remove() }
        try await ServerExecutableTests.withClient { client in
            let (server, port) = try await Self.started(folder, in: client)
            defer { server.stop() }
            let root = "http://127.0.0.1:\(port)"
            let rebound = try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", headers: [("Host", "evil.example:\(port)")])
            #expect(rebound.status == 421, "\(rebound.body)")
            #expect(rebound.body.contains("evil.example") && rebound.body.contains("vamp.http-api.allowed-hosts"), "\(rebound.body)")
            #expect(try await ServerExecutableTests.call(client, .GET, "http://localhost:\(port)/api/v1/info").status == 200)

            let preflight = try await Self.call(client, .OPTIONS, "\(root)/api/v1/deployments/shop", headers: [
                ("Origin", "https://evil.example"), ("Access-Control-Request-Method", "DELETE"), ("Access-Control-Request-Headers", "content-type"),
            ])
            #expect(preflight.headers["Access-Control-Allow-Origin"].isEmpty, "\(preflight.headers)")
            #expect(preflight.status.code == 403)
            let deleted = try await ServerExecutableTests.call(client, .DELETE, "\(root)/api/v1/breeds/none", headers: [("Origin", "https://evil.example")])
            #expect(deleted.status == 403 && deleted.body.contains("vamp.http-api.cors.allowed-origins"), "\(deleted.body)")
        }
    }

    @Test("an origin without its scheme, or a read timeout that is no number, stops the server at start naming the key")
    func badSettings() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-bad-http")
        defer { folder.remove() }
        for (variable, value, named) in [
            ("VAMP_HTTP_API_CORS_ALLOWED_ORIGINS", "ui.example.com", "vamp.http-api.cors.allowed-origins"),
            ("VAMP_HTTP_API_READ_TIMEOUT", "soon", "vamp.http-api.read-timeout"),
            ("VAMP_HTTP_API_MAX_CONNECTIONS_PER_CLIENT", "0", "vamp.http-api.max-connections-per-client"),
        ] {
            let server = try ServerExecutableTests.start(folder, environment: [variable: value], log: "\(variable).log")
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(variable)=\(value)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(variable)=\(value): \(server.logTail())")
        }
    }

    @Test("VAMP_HTTP_API_ALLOWED_HOSTS, _CORS_ALLOWED_ORIGINS, _READ_TIMEOUT and _MAX_CONNECTIONS_PER_CLIENT reach the server",
          .timeLimit(.minutes(2)))
    func settings() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-limits")
        defer { folder.remove() }
        try await ServerExecutableTests.withClient { client in
            let (server, port) = try await Self.started(folder, environment: [
                "VAMP_HTTP_API_ALLOWED_HOSTS": "vamp.test, *.vamp.test", "VAMP_HTTP_API_CORS_ALLOWED_ORIGINS": "https://ui.example.com",
                "VAMP_HTTP_API_READ_TIMEOUT": "1", "VAMP_HTTP_API_MAX_CONNECTIONS_PER_CLIENT": "40",
            ], in: client)
            defer { server.stop() }
            let root = "http://127.0.0.1:\(port)"
            for host in ["vamp.test", "api.vamp.test:\(port)"] {
                #expect(try await ServerExecutableTests.call(client, .GET, "\(root)/api/v1/info", headers: [("Host", host)]).status == 200, "\(host)")
            }
            let preflight = try await Self.call(client, .OPTIONS, "\(root)/api/v1/deployments/shop", headers: [
                ("Origin", "https://ui.example.com"), ("Access-Control-Request-Method", "DELETE"),
            ])
            #expect(preflight.status.code == 204)
            #expect(preflight.headers["Access-Control-Allow-Origin"] == ["https://ui.example.com"])

            // 30 half-sent heads: answered 408 and closed after about a second.
            let opened = ContinuousClock.now
            let heads = try (0..<30).map { _ in try ServerSocket(port: port) }
            for head in heads { head.send("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") }
            for head in heads {
                let (text, closed) = head.readUntilClosed(deadline: opened + .seconds(6))
                #expect(closed && text.hasPrefix("HTTP/1.1 408"), "\(text.prefix(200))")
            }
            // 40 open connections (with the client's own, if it holds one): the next ones are refused 429.
            let held = try (0..<40).map { _ in try ServerSocket(port: port) }
            let extra = try ServerSocket(port: port)
            extra.send("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let (text, _) = extra.readUntilClosed(deadline: .now + .seconds(5))
            #expect(text.hasPrefix("HTTP/1.1 429") && text.contains("vamp.http-api.max-connections-per-client"), "\(text.prefix(300))")
            _ = held
        }
    }
}

/// A plain TCP connection to 127.0.0.1, for requests no HTTP client sends (half a head).
final class ServerSocket {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard descriptor >= 0, connected == 0 else {
            close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What the server sends until it closes or `deadline` passes, and whether it closed.
    func readUntilClosed(deadline: ContinuousClock.Instant) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while ContinuousClock.now < deadline {
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 50) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<count]
        }
        return (String(decoding: received, as: UTF8.self), false)
    }
}
