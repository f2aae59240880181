import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Persistence
import Synchronization
import Testing
import VampAPI
import VampCore

/// A hostile request body, sent to a live server.
struct HostileBody: Sendable, CustomTestStringConvertible {
    let name: String
    let method: HTTPRequest.Method
    let path: String
    let contentType: String?
    let bytes: [UInt8]

    var testDescription: String { name }

    init(_ name: String, method: HTTPRequest.Method = .post, path: String = "/api/v1/breeds", contentType: String? = "application/x-yaml", _ bytes: [UInt8]) {
        self.name = name
        self.method = method
        self.path = path
        self.contentType = contentType
        self.bytes = bytes
    }

    init(_ name: String, method: HTTPRequest.Method = .post, path: String = "/api/v1/breeds", contentType: String? = "application/x-yaml", text: String) {
        self.init(name, method: method, path: path, contentType: contentType, Array(text.utf8))
    }

    /// Billion laughs: nine levels of ten aliases each, 10^9 nodes once expanded.
    static let yamlBomb: String = {
        var lines = ["a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ",") + "]")
        }
        return "name: bomb:1.0\ndeployable: acme/bomb:1.0\n" + lines.joined(separator: "\n") + "\nenvironment_variables: { X: *a9 }\n"
    }()

    static let all: [HostileBody] = [
        HostileBody("100,000 nested [ as JSON", contentType: "application/json", text: String(repeating: "[", count: 100_000)),
        HostileBody("100,000 nested [ as YAML", text: String(repeating: "[", count: 100_000)),
        HostileBody("100,000 nested objects as JSON", contentType: "application/json", text: String(repeating: "{\"a\":", count: 100_000)),
        HostileBody("100,000 nested [ in a multi-document request", path: "/api/v1", text: String(repeating: "[", count: 100_000)),
        HostileBody("wrong content type (text/plain)", contentType: "text/plain", text: "name: a:1.0\ndeployable: acme/a:1.0\n"),
        HostileBody("no content type", contentType: nil, text: "name: a:1.0\ndeployable: acme/a:1.0\n"),
        HostileBody("invalid UTF-8", [0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xc3, 0x28, 0xff, 0xfe, 0x0a]),
        HostileBody("empty body", []),
        HostileBody("empty JSON body", contentType: "application/json", []),
        HostileBody("YAML bomb (billion laughs)", text: yamlBomb),
        HostileBody("YAML bomb in a multi-document request", path: "/api/v1", text: "kind: breed\n" + yamlBomb),
        HostileBody("huge number (JSON, 1e999999 cpu)", path: "/api/v1/scales", contentType: "application/json",
                    text: "{\"name\":\"s\",\"cpu\":1e999999,\"memory\":\"128MB\",\"instances\":1}"),
        HostileBody("huge number (200,000-digit instances)", path: "/api/v1/scales",
                    text: "name: s\ncpu: 0.1\nmemory: 128MB\ninstances: " + String(repeating: "9", count: 200_000) + "\n"),
        HostileBody("huge number (port 99999999999999999999)",
                    text: "name: a:1.0\ndeployable: acme/a:1.0\nports:\n  web: 99999999999999999999/http\n"),
        HostileBody("NUL bytes in YAML", Array("name: sa".utf8) + [0] + Array("va:1.0\ndeployable: acme/a:1.0\n".utf8)),
        HostileBody("NUL escape in a JSON name", contentType: "application/json",
                    text: "{\"name\":\"sa\\u0000va:1.0\",\"deployable\":\"acme/a:1.0\"}"),
        HostileBody("NUL bytes only", [UInt8](repeating: 0, count: 1024)),
        HostileBody("PUT with 100,000 nested [", method: .put, path: "/api/v1/breeds/a:1.0", text: String(repeating: "[", count: 100_000)),
        HostileBody("PUT with a YAML bomb", method: .put, path: "/api/v1/breeds/bomb:1.0", text: yamlBomb),
        HostileBody("PUT of several documents with a YAML bomb", method: .put, path: "/api/v1", text: "kind: breed\n" + yamlBomb),
        HostileBody("DELETE of several documents with a YAML bomb", method: .delete, path: "/api/v1", text: "kind: breed\n" + yamlBomb),
        HostileBody("POST of a gateway with 100,000 nested [", path: "/api/v1/gateways", text: String(repeating: "[", count: 100_000)),
    ]
}

/// 1 MiB chunks, produced as they are sent (the client never holds the whole body); counts what was taken.
struct RepeatedChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunk: ByteBuffer
    let count: Int
    let taken: Counter

    final class Counter: Sendable {
        let bytes = Mutex(0)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let sequence: RepeatedChunks
        var index = 0
        mutating func next() async -> ByteBuffer? {
            guard index < sequence.count else { return nil }
            index += 1
            sequence.taken.bytes.withLock { $0 += sequence.chunk.readableBytes }
            return sequence.chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(sequence: self) }
}

/// The peak of the resident memory while a request runs.
final class MemorySampler: Sendable {
    let peak: Mutex<Int>
    let done = Mutex(false)

    init(_ baseline: Int) { peak = Mutex(baseline) }

    func record(_ bytes: Int) { peak.withLock { $0 = max($0, bytes) } }
}

/// Hostile bodies through real HTTP: each a 4xx with a `{"message"}`, never a 5xx, a crash or a hang, and nothing stored.
@Suite("REST API: hostile request bodies over real HTTP", .serialized)
struct RobustnessTests {
    static let storedKinds = ["breeds", "blueprints", "slas", "scales", "escalations", "routes", "conditions", "rewrites", "templates", "gateways", "workflows"]

    func withAPI(configuration: VampAPIConfiguration = VampAPIConfiguration(),
                 _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let vamp = Vamp(artifacts: InMemoryArtifactStore())
        // The server a host runs the API on: a body whose Content-Length is over the limit is refused before it is
        // read, which AsyncHTTPClient (as VampClient uses it) must still see as a 413 with its message.
        let app = Application(router: VampHTTPAPI.router(vamp: vamp, access: .open, configuration: configuration),
                              server: VampHTTPAPI.server(configuration: configuration),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        // The live test client gives up on a request after 20 seconds: a hang fails the test.
        try await app.test(.live) { client in try await body(client) }
    }

    static func message(_ body: ByteBuffer) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else { return "" }
        return object["message"] as? String ?? ""
    }

    /// Every stored kind lists zero artifacts.
    static func expectNothingStored(_ client: any TestClientProtocol, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for kind in storedKinds {
            let list = try await client.execute(uri: "/api/v1/\(kind)", method: .get, headers: [.accept: "application/json"])
            #expect(list.status == .ok, sourceLocation: sourceLocation)
            #expect(list.headers[HTTPField.Name("X-Total-Count")!] == "0", "\(kind) has artifacts", sourceLocation: sourceLocation)
        }
    }

    @Test("a hostile body is a 4xx with a message and stores nothing", .timeLimit(.minutes(2)), arguments: HostileBody.all)
    func hostile(_ hostile: HostileBody) async throws {
        try await withAPI { client in
            var headers: HTTPFields = [.accept: "application/json"]
            if let type = hostile.contentType { headers[.contentType] = type }
            let started = ContinuousClock.now
            let response = try await client.execute(uri: hostile.path, method: hostile.method, headers: headers, body: ByteBuffer(bytes: hostile.bytes))
            let elapsed = ContinuousClock.now - started
            let message = Self.message(response.body)
            #expect((400..<500).contains(response.status.code), "\(hostile.name): \(response.status) \(String(buffer: response.body).prefix(300))")
            #expect(!message.isEmpty, "\(hostile.name): no {\"message\"} in \(String(buffer: response.body).prefix(300))")
            #expect(message.count < 2_000, "\(hostile.name): the message echoes the input (\(message.count) characters)")
            #expect(elapsed < .seconds(10), "\(hostile.name) took \(elapsed)")
            print("\(hostile.name): \(response.status.code) in \(elapsed): \(message.prefix(160))")
            try await Self.expectNothingStored(client)
        }
    }

    @Test("hostile paging parameters: the largest page number shows the last page, nonsense is a 400 naming it", .timeLimit(.minutes(1)))
    func hostilePaging() async throws {
        try await withAPI { client in
            for query in ["page=9223372036854775807", "page=-9223372036854775808", "per_page=9223372036854775807&page=9223372036854775807",
                          "page=99999999999999999999999", "per_page=-1&page=0"] {
                let response = try await client.execute(uri: "/api/v1/breeds?\(query)", method: .get, headers: [.accept: "application/json"])
                #expect(response.status == .ok, "\(query): \(response.status)")
                #expect(String(buffer: response.body) == "[]", "\(query)")
            }
            // Not numbers at all: refused (they used to be ignored), the message naming the parameter.
            for (query, name) in [("page=abc", "page"), ("page=1&per_page=%00", "per_page")] {
                let response = try await client.execute(uri: "/api/v1/breeds?\(query)", method: .get, headers: [.accept: "application/json"])
                #expect(response.status == .badRequest, "\(query): \(response.status)")
                #expect(Self.message(response.body).contains("query parameter \(name)"), "\(query)")
            }
        }
    }

    @Test("the wrong content type gets Vamp's message", .timeLimit(.minutes(1)))
    func unsupportedMediaType() async throws {
        try await withAPI { client in
            let requests: [(String, HTTPRequest.Method)] = [("/api/v1/breeds", .post), ("/api/v1/breeds/a:1.0", .put), ("/api/v1", .post), ("/api/v1", .delete)]
            for (uri, method) in requests {
                let response = try await client.execute(uri: uri, method: method, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "name: a:1.0\n"))
                #expect(response.status == .badRequest, "\(method) \(uri)")
                #expect(Self.message(response.body).hasPrefix("Only the following media types are supported"), "\(method) \(uri)")
            }
            try await Self.expectNothingStored(client)
        }
    }

    @Test("a 100 MB body is streamed, refused with 413 and a message, and not buffered by the server", .timeLimit(.minutes(2)),
          arguments: [true, false])
    func hundredMegabytes(withContentLength: Bool) async throws {
        let limit = VampAPIConfiguration().maximumBodySize
        try await withAPI { client in
            let port = try #require(client.port)
            let chunk = ByteBuffer(repeating: UInt8(ascii: "#"), count: 1 << 20)
            let chunks = RepeatedChunks(chunk: chunk, count: 100, taken: RepeatedChunks.Counter())
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/v1/breeds")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-yaml")
            request.body = .stream(chunks, length: withContentLength ? .known(Int64(100 << 20)) : .unknown)

            let baseline = Self.residentBytes()
            // The kernel's high-water mark catches a peak between two samples.
            let highWaterMark = Self.residentBytes("VmHWM:")
            let sampler = MemorySampler(baseline)
            let started = ContinuousClock.now
            let sentRequest = request
            let (status, body) = try await withThrowingTaskGroup(of: (UInt, ByteBuffer)?.self) { group in
                group.addTask {
                    while !sampler.done.withLock({ $0 }) {
                        sampler.record(Self.residentBytes())
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    return nil
                }
                group.addTask {
                    defer { sampler.done.withLock { $0 = true } }
                    let response = try await HTTPClient.shared.execute(sentRequest, timeout: .seconds(60))
                    return (response.status.code, try await response.body.collect(upTo: 1 << 20))
                }
                var answer: (UInt, ByteBuffer)?
                for try await result in group where result != nil { answer = result }
                return try #require(answer)
            }
            let elapsed = ContinuousClock.now - started
            let growth = max(sampler.peak.withLock { $0 } - baseline, Self.residentBytes("VmHWM:") - highWaterMark)
            let sent = chunks.taken.bytes.withLock { $0 }
            print("100 MB body (\(withContentLength ? "Content-Length" : "chunked")): \(status) after \(elapsed); client produced \(sent >> 20) MiB; resident memory grew by \(growth >> 20) MiB (peak)")
            #expect(status == 413)
            #expect(Self.message(body).contains(String(limit)))
            // Buffering the whole body would add at least 100 MiB; the limit (16 MiB) plus the server's buffers is far below that.
            #expect(growth < 64 << 20, "resident memory grew by \(growth >> 20) MiB")
            try await Self.expectNothingStored(client)
        }
    }

    /// This process's resident memory (`VmRSS`), or its peak so far (`VmHWM`), in bytes; 0 where /proc is missing.
    static func residentBytes(_ field: String = "VmRSS:") -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return kilobytes * 1024
    }
}
