import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Persistence
import Testing
import VampAPI
import VampCore

/// Clients that hold the server's connections: heads sent slowly or never finished (slowloris), bodies that stop,
/// idle connections, chunk sizes that announce more than the body limit, and too many connections from one address.
@Suite("HTTP server: slow and endless requests", .serialized)
struct SlowClientTests {
    static let readTimeout = Duration.seconds(1)

    static func configuration(maximumBodySize: Int = 16 << 20, perClient: Int = 256) -> VampAPIConfiguration {
        var configuration = VampAPIConfiguration(maximumBodySize: maximumBodySize)
        configuration.connections = ConnectionLimits(readTimeout: readTimeout, idleTimeout: .seconds(2), maximumPerClient: perClient)
        return configuration
    }

    func withServer(
        _ configuration: VampAPIConfiguration = configuration(),
        _ body: @Sendable (_ port: Int, _ client: any TestClientProtocol) async throws -> Void
    ) async throws {
        let app = Application(
            router: VampHTTPAPI.router(vamp: Vamp(artifacts: InMemoryArtifactStore()), access: .open, configuration: configuration),
            server: VampHTTPAPI.server(configuration: configuration),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(try #require(client.port), client) }
    }

    static func message(_ text: String) -> String {
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined()
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["message"] as? String ?? ""
    }

    /// Whether `GET /api/v1/info` on a new connection is answered 200 (the test client's one connection is closed
    /// by the short idle timeout of these servers).
    static func answers(_ port: Int) throws -> Bool {
        let connection = try RawConnection(port: port)
        connection.send(Array("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        return connection.readUntilClosed(deadline: .now + .seconds(5)).text.hasPrefix("HTTP/1.1 200")
    }

    @Test("200 connections with half a request head each are answered 408 and closed after the read timeout; the server answers others meanwhile and after",
          .timeLimit(.minutes(1)))
    func halfOpenHeads() async throws {
        try await withServer { port, _ in
            let opened = ContinuousClock.now
            var connections: [RawConnection] = []
            for _ in 0..<200 {
                let connection = try RawConnection(port: port)
                connection.send(Array("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8))
                connections.append(connection)
            }
            #expect(try Self.answers(port), "the server answers while 200 heads wait")
            var answered = 0
            for connection in connections {
                let (text, closed) = connection.readUntilClosed(deadline: opened + Self.readTimeout + .seconds(5))
                #expect(closed, "a half-sent head kept its connection open: \(text.prefix(200))")
                if text.hasPrefix("HTTP/1.1 408"), Self.message(text).contains("vamp.http-api.read-timeout") { answered += 1 }
            }
            let elapsed = ContinuousClock.now - opened
            #expect(answered == 200)
            #expect(elapsed < Self.readTimeout + .seconds(5), "closed after \(elapsed)")
            #expect(try Self.answers(port), "the server answers after")
        }
    }

    @Test("a head sent a byte at a time, faster than the timeout, is still closed once the timeout from its first byte has passed",
          .timeLimit(.minutes(1)))
    func trickledHead() async throws {
        try await withServer { port, _ in
            let connection = try RawConnection(port: port)
            let started = ContinuousClock.now
            var closed = false
            for byte in "GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                guard connection.send([byte]) else { closed = true; break }
                if connection.readUntilClosed(deadline: .now + .milliseconds(250)).closed { closed = true; break }
                if ContinuousClock.now - started > .seconds(8) { break }
            }
            let elapsed = ContinuousClock.now - started
            #expect(closed, "the trickling client kept its connection for \(elapsed)")
            #expect(elapsed < Self.readTimeout + .seconds(2), "closed after \(elapsed)")
        }
    }

    @Test("a body that stops halfway: 408 naming the setting, and the connection closed", .timeLimit(.minutes(1)))
    func stoppedBody() async throws {
        try await withServer { port, _ in
            let connection = try RawConnection(port: port)
            let sent = ContinuousClock.now
            connection.send(Array("POST /api/v1/breeds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-yaml\r\nContent-Length: 100\r\n\r\nname: a".utf8))
            let (text, closed) = connection.readUntilClosed(deadline: sent + .seconds(6))
            #expect(text.hasPrefix("HTTP/1.1 408"), "\(text.prefix(300))")
            #expect(Self.message(text).contains("vamp.http-api.read-timeout"), "\(text)")
            #expect(closed)
            #expect(try Self.answers(port))
        }
    }

    @Test("a connection without requests is closed after the idle timeout, after a request or without any", .timeLimit(.minutes(1)))
    func idle() async throws {
        try await withServer { port, _ in
            let quiet = try RawConnection(port: port)
            let used = try RawConnection(port: port)
            let opened = ContinuousClock.now
            used.send(Array("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let (text, closed) = used.readUntilClosed(deadline: opened + .seconds(6))
            #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(200))")
            #expect(closed, "the idle connection after a request stayed open")
            let silent = quiet.readUntilClosed(deadline: opened + .seconds(6))
            #expect(silent.closed && silent.text.isEmpty, "a connection that sent nothing stayed open: \(silent.text)")
            #expect(ContinuousClock.now - opened < .seconds(6))
        }
    }

    static let chunkedHead = "POST /api/v1/breeds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-yaml\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test("a chunk size of FFFFFFFFFFFFFFFF (or over the limit, with an extension): 413 at once naming the limit and the setting, and closed",
          .timeLimit(.minutes(1)), arguments: ["FFFFFFFFFFFFFFFF\r\n", "1000001;name=value\r\n", "5\r\nname:\r\nFFFFFFFF\r\n"])
    func hugeChunk(sizeLine: String) async throws {
        try await withServer { port, _ in
            for split in [false, true] {
                let connection = try RawConnection(port: port)
                if split {
                    // The head first: it has gone on to the router when the size line comes.
                    connection.send(Array(Self.chunkedHead.utf8))
                    try await Task.sleep(for: .milliseconds(100))
                    connection.send(Array(sizeLine.utf8))
                } else {
                    connection.send(Array((Self.chunkedHead + sizeLine).utf8))
                }
                let sent = ContinuousClock.now
                let (text, closed) = connection.readUntilClosed(deadline: sent + .seconds(5))
                let elapsed = ContinuousClock.now - sent
                #expect(text.hasPrefix("HTTP/1.1 413"), "split: \(split): \(text.prefix(300))")
                let message = Self.message(text)
                #expect(message.contains("vamp.http-api.max-body-size") && message.contains(String(16 << 20)), "\(text)")
                #expect(closed)
                #expect(elapsed < .milliseconds(900), "answered after \(elapsed)")
            }
            #expect(try Self.answers(port))
        }
    }

    @Test("chunks that add up to more than the limit: 413 at the chunk that goes over; pipelined after a good chunked request, that one is answered first",
          .timeLimit(.minutes(1)))
    func runningTotal() async throws {
        try await withServer(Self.configuration(maximumBodySize: 1000)) { port, _ in
            let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\n"
            let good = Self.chunkedHead + String(breed.utf8.count, radix: 16) + "\r\n" + breed + "\r\n0\r\nX-Trailer: t\r\n\r\n"
            let chunk = "258\r\n" + String(repeating: "#", count: 600) + "\r\n"
            let connection = try RawConnection(port: port)
            connection.send(Array((good + Self.chunkedHead + chunk + "258\r\n").utf8))
            let (text, closed) = connection.readUntilClosed(deadline: .now + .seconds(10))
            let created = try #require(text.range(of: "HTTP/1.1 201"), "\(text.prefix(600))")
            let refused = try #require(text.range(of: "HTTP/1.1 413"), "\(text.prefix(600))")
            #expect(created.lowerBound < refused.lowerBound)
            #expect(text.contains("1200 bytes"), "\(text)")
            #expect(closed)
            let list = try RawConnection(port: port)
            list.send(Array("GET /api/v1/breeds HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n".utf8))
            #expect(list.readUntilClosed(deadline: .now + .seconds(5)).text.lowercased().contains("x-total-count: 1\r\n"))
        }
    }

    @Test("past the connections one address may have: 429 naming the setting, closed; once one closes, a new one is served",
          .timeLimit(.minutes(1)))
    func connectionsPerClient() async throws {
        try await withServer(Self.configuration(perClient: 4)) { port, _ in
            // The test client holds a connection of its own (until the idle timeout closes it): 3 or 4 more are served.
            var open: [RawConnection] = []
            var refusal: (text: String, closed: Bool)?
            while refusal == nil, open.count <= 4 {
                let connection = try RawConnection(port: port)
                connection.send(Array("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                let answer = connection.readUntilClosed(deadline: .now + .milliseconds(500))
                if answer.text.hasPrefix("HTTP/1.1 200") { open.append(connection) } else { refusal = answer }
            }
            #expect((3...4).contains(open.count), "\(open.count) connections served before the refusal")
            let (text, closed) = try #require(refusal)
            #expect(text.hasPrefix("HTTP/1.1 429"), "\(text.prefix(300))")
            let message = Self.message(text)
            #expect(message.contains("vamp.http-api.max-connections-per-client") && message.contains("127.0.0.1"), "\(text)")
            #expect(closed)

            open.removeFirst()
            var served = false
            let deadline = ContinuousClock.now + .seconds(3)
            while !served, ContinuousClock.now < deadline {
                let next = try RawConnection(port: port)
                next.send(Array("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
                served = next.readUntilClosed(deadline: .now + .seconds(1)).text.hasPrefix("HTTP/1.1 200")
            }
            #expect(served, "a connection after one closed was not served")
        }
    }
}
