import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// The built `vamp-server` with `vamp.http-api.rate-limit.*` and `vamp.http-api.max-event-streams-per-token` set:
/// real requests over real connections.
@Suite("vamp-server executable: rate limits per token", .serialized)
struct RateLimitServerTests {
    static let ci = "ci-0123456789abcdef0123456789abcdef"
    static let ui = "ui-0123456789abcdef0123456789abcdef"

    /// A server with the tokens `ci` and `ui` (role read) besides the fixtures' admin token, and `settings`.
    static func started(_ folder: TemporaryDirectory, _ settings: [String: String]) async throws -> (ExternalProcess, Int) {
        let file = folder.url.appendingPathComponent("tokens.yaml")
        try "- {name: ci, role: read, secret: \(ci)}\n- {name: ui, role: read, secret: \(ui)}\n".write(to: file, atomically: true, encoding: .utf8)
        let port = try FreePort.next()
        var environment = ProcessInfo.processInfo.environment
        environment["VAMP_HTTP_API_TOKENS_FILE"] = file.path
        environment.merge(settings) { _, new in new }
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(port)"], environment: environment)
        try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") { FreePort.isAccepting(port) }
        return (server, port)
    }

    /// `GET url` with `token`: status, `Retry-After`, body.
    static func get(_ client: HTTPClient, _ url: String, token: String?) async throws -> (status: Int, retryAfter: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "Retry-After"), String(buffer: body))
    }

    @Test("1 request a second, bursts of 3: a token's 4th request at once is 429 with Retry-After and a message; other tokens and requests without a token count apart; after Retry-After it is served again",
          .timeLimit(.minutes(2)))
    func requestRate() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-rate-limit")
        defer { folder.remove() }
        let (server, port) = try await Self.started(folder, [
            "VAMP_HTTP_API_RATE_LIMIT_REQUESTS_PER_SECOND": "1", "VAMP_HTTP_API_RATE_LIMIT_BURST": "3",
        ])
        defer { server.stop() }
        let url = "http://127.0.0.1:\(port)/api/v1/breeds"
        try await ServerExecutableTests.withClient { client in
            for _ in 0..<3 { #expect(try await Self.get(client, url, token: Self.ci).status == 200) }
            let refused = try await Self.get(client, url, token: Self.ci)
            #expect(refused.status == 429, "\(refused.body)")
            let retryAfter = try #require(refused.retryAfter.flatMap { Int($0) }, "Retry-After: \(refused.retryAfter ?? "none")")
            #expect((1...3).contains(retryAfter))
            let message = try #require(try JSONSerialization.jsonObject(with: Data(refused.body.utf8)) as? [String: Any])["message"] as? String
            #expect(message?.contains("token 'ci'") == true && message?.contains("vamp.http-api.rate-limit.requests-per-second") == true, "\(refused.body)")
            // Another token has its own bucket; requests without one share their address's, 401s included.
            #expect(try await Self.get(client, url, token: Self.ui).status == 200)
            for _ in 0..<3 { #expect(try await Self.get(client, url, token: nil).status == 401) }
            let anonymous = try await Self.get(client, url, token: nil)
            #expect(anonymous.status == 429 && anonymous.body.contains("client 127.0.0.1"), "\(anonymous.body)")
            // The client was told when to come back: then it is served.
            try await Task.sleep(for: .seconds(retryAfter))
            let again = try await Self.get(client, url, token: Self.ci)
            #expect(again.status == 200, "\(again.body)")
        }
        #expect(server.logTail().contains("vamp.http-api.rate-limit") == false, "a refusal is an answer, not a log line")
    }

    static func streamRequest(_ token: String) -> String {
        "GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
    }

    static func upgradeRequest(_ token: String) -> String {
        "GET /websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    }

    /// Opens a connection, sends `request` and waits for the answer's head: the connection and its status line.
    static func open(_ port: Int, _ request: String) async throws -> (TestConnection, String) {
        let connection = try await TestConnection.open(port: port)
        try await connection.send(request)
        let text = try await connection.read { $0.contains("\r\n\r\n") }
        return (connection, text.components(separatedBy: "\r\n").first ?? "")
    }

    /// Whether `request` on a new connection is answered `status`; the connection is closed after.
    static func opens(_ port: Int, _ request: String, _ status: String) async throws -> Bool {
        let (connection, answered) = try await open(port, request)
        await connection.close()
        return answered == status
    }

    @Test("2 event streams a token: an event stream and a WebSocket take both; the next of each is 429 (the socket before its upgrade); another token is not affected; a closed stream or socket frees its slot",
          .timeLimit(.minutes(2)))
    func eventStreams() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-stream-limit")
        defer { folder.remove() }
        let (server, port) = try await Self.started(folder, ["VAMP_HTTP_API_MAX_EVENT_STREAMS_PER_TOKEN": "2"])
        defer { server.stop() }
        let (stream, streamStatus) = try await Self.open(port, Self.streamRequest(Self.ci))
        #expect(streamStatus == "HTTP/1.1 200 OK")
        try await stream.read { $0.contains(": subscribed") }
        let (socket, socketStatus) = try await Self.open(port, Self.upgradeRequest(Self.ci))
        #expect(socketStatus == "HTTP/1.1 101 Switching Protocols")

        let (third, thirdStatus) = try await Self.open(port, Self.streamRequest(Self.ci))
        #expect(thirdStatus == "HTTP/1.1 429 Too Many Requests")
        let body = try await third.read { $0.contains("}") }
        #expect(body.contains("vamp.http-api.max-event-streams-per-token") && body.contains("token 'ci'"), "\(body)")
        let (refusedSocket, refusedSocketStatus) = try await Self.open(port, Self.upgradeRequest(Self.ci))
        #expect(refusedSocketStatus == "HTTP/1.1 429 Too Many Requests", "no upgrade past the limit")
        let (other, otherStatus) = try await Self.open(port, Self.streamRequest(Self.ui))
        #expect(otherStatus == "HTTP/1.1 200 OK", "another token's streams count apart")
        for connection in [third, refusedSocket, other] { await connection.close() }

        // The client closes the stream: its slot is free for the next (the server learns of the close at once,
        // not at the next heartbeat 15 s later).
        await stream.close()
        try await waitUntil(timeout: .seconds(5), "the closed stream's slot\n\(server.logTail())") {
            try await Self.opens(port, Self.streamRequest(Self.ci), "HTTP/1.1 200 OK")
        }
        // The socket closes: its slot is free too.
        await socket.close()
        try await waitUntil(timeout: .seconds(5), "the closed socket's slot\n\(server.logTail())") {
            try await Self.opens(port, Self.upgradeRequest(Self.ci), "HTTP/1.1 101 Switching Protocols")
        }
    }
}
