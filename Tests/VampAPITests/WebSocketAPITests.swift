import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import Persistence
import Testing
import VampAccess
@testable import VampAPI
import VampCore

/// Vamp 0.9.5's `/websocket` API, through a real WebSocket client on loopback: the original's messages (PEEK a
/// list, PUT a breed, REMOVE it, subscribe to events) answered field by field, with the token checked like REST.
@Suite("WebSocket API (the original's /websocket)", .serialized)
struct WebSocketAPITests {
    typealias Secrets = AccessAPITests

    /// A client's side of one socket: send frames, read the answers as JSON objects.
    final class Socket {
        let outbound: WebSocketOutboundWriter
        var messages: WebSocketInboundMessageStream.AsyncIterator

        init(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) {
            self.outbound = outbound
            self.messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
        }

        func send(_ object: [String: Any]) async throws {
            let data = try JSONSerialization.data(withJSONObject: object)
            try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
        }

        func send(text: String) async throws { try await outbound.write(.text(text)) }

        func next() async throws -> [String: Any] {
            guard case .text(let text)? = try await messages.next() else { throw CancellationError() }
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        }

        /// Sends a request and reads its answer.
        func ask(_ object: [String: Any]) async throws -> [String: Any] {
            try await send(object)
            return try await next()
        }
    }

    /// A live server with tokens of every role on a free port.
    func withServer(_ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let store = InMemoryArtifactStore()
        let registry = TokenRegistry(store: store, configured: Role.allCases.map { Secrets.configured($0) }, logger: Logger(label: "test"))
        let vamp = Vamp(artifacts: store)
        let router = VampHTTPAPI.router(vamp: vamp, access: .tokens(registry))
        let app = Application(
            router: router, server: VampHTTPAPI.server(router: router), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await registry.run() }
            try await app.test(.live) { client in try await body(try #require(client.port)) }
            group.cancelAll()
        }
    }

    /// Connects as `role` (by header, or by `access_token` when `query` is set) and runs `body` on the socket.
    func connect(_ port: Int, role: String?, query: Bool = false, path: String = "/websocket", _ body: @escaping @Sendable (Socket) async throws -> Void) async throws {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
        var url = "ws://127.0.0.1:\(port)\(path)"
        if let role {
            if query { url += "?access_token=\(Secrets.secrets[role]!)" } else { configuration.additionalHeaders[.authorization] = "Bearer \(Secrets.secrets[role]!)" }
        }
        try await WebSocketClient.connect(url: url, configuration: configuration, logger: Logger(label: "ws-test")) { inbound, outbound, _ in
            try await body(Socket(inbound, outbound))
        }
    }

    static let breed = "name: sava:1.0\ndeployable: magneticio/sava:1.0.0\nports: {web: 8080/http}\n"

    @Test("PEEK a list, PUT a breed, PEEK it, REMOVE it: statuses, transactions, data and headers as the original's", .timeLimit(.minutes(1)))
    func artifactRoundTrip() async throws {
        try await withServer { port in
            try await connect(port, role: "write") { socket in
                let empty = try await socket.ask(["api": "v1", "path": "/breeds", "action": "PEEK", "accept": "JSON", "transaction": "1"])
                #expect(empty["status"] as? String == "OK")
                #expect(empty["transaction"] as? String == "1")
                #expect(empty["path"] as? String == "/breeds")
                #expect(empty["action"] as? String == "PEEK")
                #expect(empty["content"] as? String == "JSON")
                #expect((empty["parameters"] as? [String: String])?["X-Total-Count"] == "0", "\(empty)")
                #expect(empty["data"] as? String == "[]")

                // PUT on a collection creates (POST), with a YAML body; lower-case action and accept are read too.
                let created = try await socket.ask([
                    "api": "v1", "path": "breeds", "action": "put", "accept": "yaml", "content": "YAML", "transaction": "2", "data": Self.breed,
                ])
                #expect(created["status"] as? String == "OK", "\(created)")
                #expect(created["content"] as? String == "YAML")
                #expect((created["data"] as? String)?.contains("name: sava:1.0") == true, "\(created)")
                #expect((created["parameters"] as? [String: String])?["Content-Type"] == "application/x-yaml")

                let read = try await socket.ask(["api": "v1", "path": "/breeds/sava:1.0", "action": "PEEK", "transaction": "3"])
                #expect(read["status"] as? String == "OK")
                let breed = try Self.object(read["data"])
                #expect(breed["name"] as? String == "sava:1.0")
                #expect((read["data"] as? String)?.contains("magneticio/sava:1.0.0") == true)

                let listed = try await socket.ask(["api": "v1", "path": "/breeds", "action": "PEEK", "parameters": ["per_page": 1], "transaction": "4"])
                #expect((listed["parameters"] as? [String: String])?["X-Total-Count"] == "1")

                let removed = try await socket.ask(["api": "v1", "path": "/breeds/sava:1.0", "action": "REMOVE", "transaction": "5"])
                #expect(["NOCONTENT", "OK"].contains(removed["status"] as? String), "\(removed)")
                #expect(removed["transaction"] as? String == "5")

                let missing = try await socket.ask(["api": "v1", "path": "/breeds/sava:1.0", "action": "PEEK", "transaction": "6"])
                #expect(missing["status"] as? String == "ERROR")
                #expect(missing["data"] == nil, "a 404 has no body")

                // A list of two requests in one frame: two answers, in order.
                try await socket.send(text: #"[{"api":"v1","path":"/breeds","action":"PEEK","transaction":"7"},{"api":"v1","path":"/info","action":"PEEK","transaction":"8"}]"#)
                #expect(try await socket.next()["transaction"] as? String == "7")
                let info = try await socket.next()
                #expect(info["transaction"] as? String == "8")
                #expect(info["status"] as? String == "OK")
            }
        }
    }

    @Test("a PEEK of /events/stream pushes the matching events with the subscriber's transaction; a new subscription replaces it",
          .timeLimit(.minutes(1)))
    func eventSubscription() async throws {
        try await withServer { port in
            try await connect(port, role: "write") { socket in
                try await socket.send(["api": "v1", "path": "/events/stream", "action": "PEEK", "transaction": "events", "parameters": ["tag": ["ws:test"]]])
                // Not pushed: another tag. The answer to the PUT is all that comes.
                let other = try await socket.ask(["api": "v1", "path": "/events", "action": "PUT", "transaction": "o", "data": #"{"tags":["elsewhere"],"type":"other","value":"x"}"#])
                #expect(other["status"] as? String == "OK", "\(other)")
                #expect(other["transaction"] as? String == "o")
                // Pushed: the answer and the event, in either order.
                try await socket.send(["api": "v1", "path": "/events", "action": "PUT", "transaction": "p", "data": #"{"tags":["ws:test"],"type":"probe","value":"1"}"#])
                let two = [try await socket.next(), try await socket.next()]
                #expect(Set(two.compactMap { $0["transaction"] as? String }) == ["p", "events"], "\(two)")
                let pushed = try #require(two.first { $0["transaction"] as? String == "events" })
                #expect(pushed["status"] as? String == "OK")
                #expect(pushed["path"] as? String == "/events/stream")
                #expect(pushed["action"] as? String == "PEEK")
                let event = try Self.object(pushed["data"])
                #expect(event["type"] as? String == "probe")
                #expect((event["tags"] as? [String])?.contains("ws:test") == true)

                // A new subscription replaces the first: its tag is pushed, the first's no longer.
                try await socket.send(["api": "v1", "path": "/events/stream", "action": "PEEK", "transaction": "second", "parameters": ["type": "second"]])
                let old = try await socket.ask(["api": "v1", "path": "/events", "action": "PUT", "transaction": "q", "data": #"{"tags":["ws:test"],"type":"probe","value":"2"}"#])
                #expect(old["transaction"] as? String == "q", "the replaced subscription pushed nothing: \(old)")
                try await socket.send(["api": "v1", "path": "/events", "action": "PUT", "transaction": "r", "data": #"{"tags":["x"],"type":"second","value":"3"}"#])
                let next = [try await socket.next(), try await socket.next()]
                #expect(Set(next.compactMap { $0["transaction"] as? String }) == ["r", "second"], "\(next)")
            }
        }
    }

    static func object(_ data: Any?) throws -> [String: Any] {
        let text = try #require(data as? String)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    @Test("tokens as for REST: none is refused at the upgrade, a read token may PEEK and not PUT, access_token works for browsers",
          .timeLimit(.minutes(1)))
    func tokens() async throws {
        try await withServer { port in
            // Without a token: a plain request is told why (401), and so is an upgrade, which is refused.
            let refused = try RawResponse.exchange(port: port, "GET", "/websocket")
            #expect(refused.status == 401, "\(refused.status) \(refused.body)")
            #expect(refused.message.contains("token"))
            let refusedUpgrade = try RawResponse.exchange(port: port, "GET", "/websocket", headers: [
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
            ])
            #expect(refusedUpgrade.status == 401 && refusedUpgrade.message.contains("token"), "\(refusedUpgrade.status) \(refusedUpgrade.body)")
            await #expect(throws: (any Error).self) {
                try await connect(port, role: nil) { _ in }
            }
            try await connect(port, role: "read", query: true) { socket in
                let listed = try await socket.ask(["api": "v1", "path": "/breeds", "action": "PEEK", "transaction": "1"])
                #expect(listed["status"] as? String == "OK", "\(listed)")
                let put = try await socket.ask(["api": "v1", "path": "/breeds", "action": "PUT", "content": "YAML", "data": Self.breed, "transaction": "2"])
                #expect(put["status"] as? String == "ERROR")
                #expect((put["data"] as? String)?.contains("role") == true, "\(put)")
            }
            let plain = try RawResponse.exchange(port: port, "GET", "/websocket", headers: ["Authorization": "Bearer \(Secrets.secrets["read"]!)"])
            #expect(plain.status == 426, "a plain GET is told to upgrade: \(plain.status) \(plain.body)")
            // Cross-site WebSocket hijacking: a page of another site may not open the socket, token or not.
            let foreign = try RawResponse.exchange(port: port, "GET", "/websocket", headers: [
                "Origin": "https://evil.example", "Authorization": "Bearer \(Secrets.secrets["read"]!)",
            ])
            #expect(foreign.status == 403, "\(foreign.status)")
            let hijack = try RawResponse.exchange(port: port, "GET", "/websocket", headers: [
                "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Origin": "https://evil.example", "Authorization": "Bearer \(Secrets.secrets["read"]!)",
            ])
            #expect(hijack.status == 403 && hijack.body.contains("evil.example"), "the upgrade is refused, saying why: \(hijack.status) \(hijack.body)")
        }
    }

    @Test("frames that cannot be read get ERROR with what is wrong, and the socket keeps serving", .timeLimit(.minutes(1)))
    func badFrames() async throws {
        try await withServer { port in
            try await connect(port, role: "read") { socket in
                let cases: [(String, String)] = [
                    ("{not json", "not valid JSON"),
                    (#"{"api":"v2","path":"/breeds","action":"PEEK","transaction":"t"}"#, "v1"),
                    (#"{"api":"v1","path":"/breeds","action":"GET"}"#, "PEEK, PUT, REMOVE"),
                    (#"{"api":"v1","action":"PEEK"}"#, "path is missing"),
                    (#"{"api":"v1","path":"/../metrics","action":"PEEK"}"#, "'..'"),
                    (#"{"api":"v1","path":"/breeds","action":"PEEK","accept":"XML"}"#, "accept"),
                    (#"{"api":"v1","path":"/breeds","action":"PEEK","bogus":1}"#, "unknown field 'bogus'"),
                    ("[]", "empty list"),
                    ("42", "object"),
                ]
                for (frame, expected) in cases {
                    try await socket.send(text: frame)
                    let answer = try await socket.next()
                    #expect(answer["status"] as? String == "ERROR", "\(frame)")
                    #expect((answer["error"] as? String)?.contains(expected) == true, "\(frame): \(answer)")
                }
                let transaction = try await socket.ask(["api": "v2", "path": "/x", "action": "PEEK", "transaction": "keep"])
                #expect(transaction["transaction"] as? String == "keep")
                let still = try await socket.ask(["api": "v1", "path": "/breeds", "action": "PEEK"])
                #expect(still["status"] as? String == "OK")
            }
        }
    }

    @Test("requests are read field by field: methods, paths, parameters, YAML frames")
    func reading() throws {
        func request(_ text: String) throws -> WebSocketRequest {
            try #require(WebSocketMessage.requests(in: text).first).get()
        }
        #expect(try request(#"{"api":"v1","path":"deployments","action":"PUT"}"#).method == "POST")
        #expect(try request(#"{"api":"v1","path":"/deployments/sava","action":"PUT"}"#).method == "PUT")
        #expect(try request(#"{"api":"v1","path":"/deployments/sava","action":"remove"}"#).method == "DELETE")
        #expect(try request(#"{"api":"v1","path":"/events/stream","action":"PEEK"}"#).isEventSubscription)
        #expect(try !request(#"{"api":"v1","path":"/events","action":"PEEK"}"#).isEventSubscription)
        let parameters = try request(#"{"api":"v1","path":"/events?type=x","action":"PEEK","parameters":{"tag":["a:b","c d"],"expand_references":true,"page":2}}"#)
        #expect(parameters.target(under: "/shop/api/v1") == "/shop/api/v1/events?expand_references=true&page=2&tag=a:b&tag=c%20d&type=x")
        let yaml = try request("api: v1\npath: /breeds\naction: PEEK\ntransaction: 12\n")
        #expect(yaml.transaction == "12")
        #expect(yaml.accept == .json)
        let object = try request(#"{"api":"v1","path":"/events","action":"PUT","data":{"tags":["a"],"type":"t"}}"#)
        #expect(object.data == #"{"tags":["a"],"type":"t"}"#)
        #expect(WebSocketMessage.statusName(201) == "OK" && WebSocketMessage.statusName(202) == "ACCEPTED" && WebSocketMessage.statusName(204) == "NOCONTENT")
        #expect(WebSocketMessage.statusName(404) == "ERROR" && WebSocketMessage.statusName(500) == "ERROR")
        for path in ["/a//b", "/a/./b", "/a b", "/a#b", String(repeating: "a", count: 3000)] {
            #expect(WebSocketMessage.pathProblem(path.hasPrefix("/") ? path : "/" + path) != nil, "\(path)")
        }
    }

    /// Found by fuzzing (Fuzz/, fuzz-websocket-message): Yams takes every key as text, force-unwrapped, so a YAML frame
    /// whose key is a map or a list stopped the server; and aliases expand without a bound. Both are errors now.
    @Test("a YAML frame with a map or list as a key, aliases that expand too far, or a base-60 integer past Int is an error, not a crash")
    func yamlFramesYamsTrapsOn() throws {
        for frame in ["? \u{FFFD}\u{FFFD}eters:\n  expand_references: truoCP#KEKS", "? [a]\n: b\n", "a: 1\n[1]: y\n", "api: v1\n? {a: b}\n: c\n"] {
            let results = WebSocketMessage.requests(in: frame)
            guard results.count == 1, case .failure(let error) = results[0] else {
                Issue.record("\(frame.debugDescription): \(results)")
                continue
            }
            #expect(error.message.contains("keys are text"), "\(error.message)")
        }
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 { bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let results = WebSocketMessage.requests(in: bomb)
        guard results.count == 1, case .failure(let error) = results[0] else { Issue.record("\(results.count) results"); return }
        #expect(error.message.contains("more than \(YAMLValues.maximumValues) values"), "\(error.message)")
        // Found by fuzzing: paths are split on the '/' and '?' scalars, as the REST API reads them; a '/' followed by a
        // combining mark is one character with it, and a character-wise split hid a '..' segment.
        for path in ["/../\u{301}", "/a/../\u{301}b", "/\u{301}/..", "/a//\u{301}b"] {
            #expect(WebSocketMessage.pathProblem(path) != nil, "\(path.debugDescription)")
        }
        let marked = try #require(WebSocketMessage.requests(in: #"{"api":"v1","path":"\#u{065A}x?type=x","action":"PUT"}"#).first).get()
        #expect(marked.path == "/\u{065A}x")
        #expect(marked.parameters.map(\.name) == ["type"])
        #expect(marked.method == "POST")
        // Found by fuzzing: Yams reads a plain `4:2:22:…` as a base-60 integer and multiplied past Int.max (a trap);
        // refused before Yams constructs it, as a frame, a value in a frame, and a scale body. A small one still reads.
        for frame in ["4:2:22:2:2:4:2:22:2:2:2 ", "api: v1\npath: /info\ndata: 1:0:0:0:0:0:0:0:0:0:0\n", "-9223372036854775807:59"] {
            let results = WebSocketMessage.requests(in: frame)
            guard results.count == 1, case .failure(let error) = results[0] else { Issue.record("\(frame.debugDescription): \(results)"); continue }
            #expect(error.message.contains("base-60"), "\(error.message)")
        }
        #expect { try DeploymentHandlers.named("cpu: 1:0:0:0:0:0:0:0:0:0:0\n", "scale") } throws: { error in
            "\(error)".contains("the scale: the value '1:0:0:0:0:0:0:0:0:0:0' at line 1 is a base-60 number")
        }
        #expect(YAMLValues.sexagesimalProblem("1:30") == nil && YAMLValues.sexagesimalProblem("1:0:0:0:0:0:0:0:0:0") == nil)
        #expect(YAMLValues.sexagesimalProblem("1:0:0:0:0:0:0:0:0:0:0") != nil)
        // The same loader reads a cluster's scale or SLA sent as YAML (DeploymentHandlers.named).
        #expect(throws: OperationError.self) { try DeploymentHandlers.named("? [a]\n: b\n", "scale") }
        #expect(try DeploymentHandlers.named("cpu: 1\n", "scale").contains(#""name":"scale""#))
    }
}
