#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Persistence
import Testing
import VampAPI
import VampCore

/// A plain TCP client with a deadline on every read, so a test can send a request's head without its body, as a
/// client uploading a large file does, and see when the server answers and closes.
final class RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(descriptor) }

    /// Sends all of `bytes`; false when the server closed the connection first.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let sent = bytes[offset...].withUnsafeBytes { Darwin.send(descriptor, $0.baseAddress, $0.count, 0) }
            #endif
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// What the server sends until it closes the connection or `deadline` passes, and whether it closed.
    func readUntilClosed(deadline: ContinuousClock.Instant) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { break }
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000) + 1
            guard poll(&ready, 1, milliseconds) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            // 0: the server closed; a reset after the answer counts as closed too.
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<count]
        }
        return (String(decoding: received, as: UTF8.self), false)
    }
}

/// `vamp.http-api.max-body-size`: a body declared larger gets 413 once its headers are in, and the connection is
/// closed without the server reading the rest; a client sending 60 MB does not wait for its upload to end.
@Suite("REST API: a body over the limit is refused at once", .serialized)
struct BodySizeLimitTests {
    static let limit = VampAPIConfiguration().maximumBodySize
    static let declared = 60 << 20

    func withServer(_ body: @Sendable (_ port: Int, _ client: any TestClientProtocol) async throws -> Void) async throws {
        let configuration = VampAPIConfiguration()
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        let app = Application(
            router: VampHTTPAPI.router(vamp: vamp, access: .open, configuration: configuration),
            server: VampHTTPAPI.server(configuration: configuration),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(try #require(client.port), client) }
    }

    static func head(_ method: String, _ path: String, length: Int) -> [UInt8] {
        Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-yaml\r\nContent-Length: \(length)\r\n\r\n".utf8)
    }

    @Test("the headers of a 60 MB body and a little of it: 413 naming the limit and the setting, and the connection closed, within a second",
          .timeLimit(.minutes(1)), arguments: ["/api/v1/breeds", "/api/v1", "/api/v1/info", "/no/such/route"])
    func refusedAtOnce(path: String) async throws {
        try await withServer { port, client in
            let connection = try RawConnection(port: port)
            #expect(connection.send(Self.head("POST", path, length: Self.declared)))
            connection.send([UInt8](repeating: UInt8(ascii: "#"), count: 64 << 10))
            let sent = ContinuousClock.now
            // A server that reads the whole body never answers here (the rest is never sent): the deadline ends the wait.
            let (text, closed) = connection.readUntilClosed(deadline: sent + .seconds(5))
            let elapsed = ContinuousClock.now - sent
            #expect(text.hasPrefix("HTTP/1.1 413"), "\(text.prefix(300))")
            #expect(closed, "the server kept the connection open: \(text.prefix(300))")
            #expect(elapsed < .seconds(1), "closed after \(elapsed)")
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined()
            let message = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["message"] as? String ?? ""
            #expect(message.contains(String(Self.limit)) && message.contains(String(Self.declared)), "\(body)")
            #expect(message.contains("vamp.http-api.max-body-size"), "\(body)")

            let breeds = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: [.accept: "application/json"])
            #expect(breeds.headers[HTTPField.Name("X-Total-Count")!] == "0")
        }
    }

    @Test("bodies within the limit are served as before, several on one connection", .timeLimit(.minutes(1)))
    func withinLimit() async throws {
        try await withServer { _, client in
            let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\n"
            let created = try await client.execute(uri: "/api/v1/breeds", method: .post, headers: [.contentType: "application/x-yaml"], body: ByteBuffer(string: breed))
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let read = try await client.execute(uri: "/api/v1/breeds/sava:1.0", method: .get, headers: [.accept: "application/json"])
            #expect(read.status == .ok)
            #expect(String(buffer: read.body).contains("magneticio/sava:1.0.0"))
        }
    }

    @Test("pipelined after a request within the limit: that one is answered first, then the 413, then the close", .timeLimit(.minutes(1)))
    func pipelined() async throws {
        try await withServer { port, client in
            let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\n"
            let connection = try RawConnection(port: port)
            connection.send(Self.head("POST", "/api/v1/breeds", length: breed.utf8.count) + Array(breed.utf8) + Self.head("POST", "/api/v1/breeds", length: Self.declared))
            // The first request runs a handler, which may wait for a busy machine: no bound on the time here.
            let (text, closed) = connection.readUntilClosed(deadline: .now + .seconds(20))
            let created = try #require(text.range(of: "HTTP/1.1 201"), "\(text.prefix(600))")
            let refused = try #require(text.range(of: "HTTP/1.1 413"), "\(text.prefix(600))")
            #expect(created.lowerBound < refused.lowerBound)
            #expect(closed)
            let breeds = try await client.execute(uri: "/api/v1/breeds", method: .get, headers: [.accept: "application/json"])
            #expect(breeds.headers[HTTPField.Name("X-Total-Count")!] == "1")
        }
    }
}
