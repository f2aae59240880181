import AsyncHTTPClient
import Foundation
import KVStores
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-server` as an operator runs it: bad settings, the `haproxy -c` check, namespaces, and SIGKILL in
/// the middle of a burst of writes. README's quick start and the embedded gateway agent: EmbeddedAgentTests.
@Suite("vamp-server executable", .serialized)
struct ServerExecutableTests {
    static func executable(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent(name).path
    }

    static let key = KeyPath.haproxyConfiguration(namespace: "vamp", version: "2.6")

    /// Starts the built `vamp-server` in `folder`; without the embedded gateway agent unless `embedded` (these tests
    /// are about the API and the stores; EmbeddedAgentTests run the agent).
    /// The server has the fixtures' admin token (`VampServerFixture.adminToken`) unless `firstStart`, where it
    /// creates its own as on a user's first start.
    static func start(
        _ folder: TemporaryDirectory, arguments: [String] = [], environment: [String: String] = [:], embedded: Bool = false,
        firstStart: Bool = false, log: String = "server.log"
    ) throws -> ExternalProcess {
        var environment = environment.isEmpty ? ProcessInfo.processInfo.environment : environment
        if !embedded, environment["VAMP_GATEWAY_AGENT_EMBEDDED"] == nil { environment["VAMP_GATEWAY_AGENT_EMBEDDED"] = "false" }
        environment["VAMP_TOKEN"] = nil
        if firstStart {
            environment["VAMP_HTTP_API_TOKENS_ADMIN"] = nil
        } else if environment["VAMP_HTTP_API_TOKENS_ADMIN"] == nil {
            environment["VAMP_HTTP_API_TOKENS_ADMIN"] = VampServerFixture.adminToken
        }
        return try ExternalProcess(
            executable: executable("vamp-server"), arguments: arguments, environment: environment,
            workingDirectory: folder.url,
            logFile: folder.url.appendingPathComponent(log), installHint: "build it first: swift build --build-tests")
    }

    /// One request; the status and the body as text.
    /// One request with `token` (by default the fixtures' admin token; `nil`: none).
    static func call(
        _ client: HTTPClient, _ method: HTTPMethod, _ url: String, yaml: String? = nil, headers: [(String, String)] = [],
        token: String? = VampServerFixture.adminToken
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let yaml {
            request.headers.add(name: "Content-Type", value: "application/x-yaml")
            request.body = .bytes(ByteBuffer(string: yaml))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    static func gateway(_ name: String, port: Int, backend: Int) -> String {
        "name: \(name)\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:\(backend)]\": {weight: 100%}\n"
    }

    static func withClient(_ body: (HTTPClient) async throws -> Void) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await body(client)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("--log-level debug reaches every part: the reconciler's debug line is written, marked with its part")
    func logLevelReachesTheReconciler() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-log-level")
        defer { folder.remove() }
        let server = try Self.start(folder, arguments: ["--port", "0", "--log-level", "debug"], log: "debug.log")
        defer { server.stop() }
        // The reconciler's first pass runs at start.
        try await waitUntil(timeout: .seconds(30), "the reconciler's debug line\n\(server.logTail())") {
            let log = server.logTail(maxBytes: 200_000)
            return log.contains("reconcile pass") && log.contains("vamp.part=reconciler")
        }
    }

    @Test("a malformed setting stops the server at start with the key's name and a non-zero exit")
    func badSetting() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-bad")
        defer { folder.remove() }
        for (variable, value, named) in [
            ("VAMP_HTTP_API_PORT", "eighty", "vamp.http-api.port"),
            ("VAMP_OPERATION_GATEWAY_PORT_RANGE", "45000-40000", "vamp.operation.gateway.port-range"),
            ("VAMP_PERSISTENCE_DATABASE_TYPE", "mongodb", "vamp.persistence"),
            ("VAMP_KEY_VALUE_STORE_TYPE", "redis", "redis"),
        ] {
            let server = try Self.start(folder, environment: [variable: value], log: "\(variable).log")
            try await waitUntil(timeout: .seconds(15), "the server to refuse \(variable)=\(value)") { !server.isRunning }
            #expect(server.terminationStatus != 0)
            #expect(server.logTail().contains(named), "\(variable)=\(value): \(server.logTail())")
        }
    }

    @Test("with the haproxy check on, a text HAProxy refuses is a 400 naming the gateway, and nothing is stored or written")
    func haproxyCheckRefuses() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-check")
        defer { folder.remove() }
        // A stand-in for haproxy that refuses every text, to see the refusal travel; the real binary checks every
        // write in the README test above.
        let refusing = folder.url.appendingPathComponent("refusing-haproxy")
        try "#!/bin/sh\necho '[ALERT] (1) : config : refused by the test stand-in'\nexit 1\n".write(to: refusing, atomically: true, encoding: .utf8)
        chmod(refusing.path, 0o755)
        let port = try FreePort.next()
        let server = try Self.start(folder, arguments: ["--port", "\(port)"], environment: [
            "VAMP_GATEWAY_DRIVER_HAPROXY_CHECK": "true", "VAMP_GATEWAY_DRIVER_HAPROXY_EXECUTABLE": refusing.path,
        ])
        defer { server.stop() }
        try await Self.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") {
                try await Self.call(client, .GET, "http://127.0.0.1:\(port)/api/v1/info").status == 200
            }
            let refused = try await Self.call(client, .POST, "http://127.0.0.1:\(port)/api/v1/gateways", yaml: Self.gateway("checked", port: 9055, backend: 1))
            #expect(refused.status == 400)
            #expect(refused.body.contains("'checked'") && refused.body.contains("refused by the test stand-in"), "\(refused.body)")
            #expect(try await Self.call(client, .GET, "http://127.0.0.1:\(port)/api/v1/gateways/checked").status == 404)
            let text = try await FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv")).get(Self.key)?.string ?? ""
            #expect(!text.contains("checked"))
        }
    }

    @Test("/<namespace>/api/v1 keeps its own artifacts, events and KV key; the default namespace is /api/v1; the number of namespaces is capped")
    func namespaces() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-ns")
        defer { folder.remove() }
        let port = try FreePort.next()
        let server = try Self.start(folder, arguments: ["--port", "\(port)"], environment: ["VAMP_NAMESPACES_MAXIMUM": "1"])
        defer { server.stop() }
        let root = "http://127.0.0.1:\(port)"
        try await Self.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") {
                try await Self.call(client, .GET, "\(root)/api/v1/info").status == 200
            }
            let created = try await Self.call(client, .POST, "\(root)/acme/api/v1/gateways", yaml: Self.gateway("shop", port: 9061, backend: 1))
            #expect(created.status == 202, "\(created.body)")
            #expect(try await Self.call(client, .GET, "\(root)/acme/api/v1/gateways/shop").status == 200)
            #expect(try await Self.call(client, .GET, "\(root)/api/v1/gateways/shop").status == 404, "not in the default namespace")
            _ = try await Self.call(client, .POST, "\(root)/vamp/api/v1/gateways", yaml: Self.gateway("home", port: 9062, backend: 1))
            #expect(try await Self.call(client, .GET, "\(root)/api/v1/gateways/home").status == 200, "/vamp/api/v1 is the default namespace")
            let acmeEvents = try await Self.call(client, .GET, "\(root)/acme/api/v1/events?tag=gateways:shop")
            #expect(acmeEvents.body.contains("archive:create"))
            #expect(try await Self.call(client, .GET, "\(root)/api/v1/events?tag=gateways:shop").body == "[]")

            let store = try FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv"))
            try await waitUntil(timeout: .seconds(10), "the namespace's own KV key") {
                try await store.get(KeyPath.haproxyConfiguration(namespace: "acme", version: "2.6"))?.string.contains("# gateway shop") == true
            }
            #expect(try await store.get(Self.key)?.string.contains("# gateway shop") == false)

            #expect(try await Self.call(client, .GET, "\(root)/Not_A_Name/api/v1/gateways").status == 404)
            let capped = try await Self.call(client, .GET, "\(root)/second/api/v1/gateways")
            #expect(capped.status == 400)
            #expect(capped.body.contains("vamp.namespaces.maximum"), "\(capped.body)")
        }
    }

    @Test("SIGKILL during a burst of writes: after a restart every acknowledged write is there and the KV text matches the stored gateways")
    func killDuringWrites() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-server-kill")
        defer { folder.remove() }
        let port = try FreePort.next()
        let base = "http://127.0.0.1:\(port)/api/v1"
        let first = try Self.start(folder, arguments: ["--port", "\(port)"])
        let acknowledged = Names()
        try await Self.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API\n\(first.logTail())") {
                try await Self.call(client, .GET, "\(base)/info").status == 200
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<10_000 {
                            let name = "w\(writer)-\(index)"
                            let gatewayPort = 20000 + writer * 2000 + index
                            guard let answer = try? await Self.call(client, .POST, "\(base)/gateways", yaml: Self.gateway(name, port: gatewayPort, backend: 9)) else { return }
                            if answer.status == 202 { acknowledged.append(name) }
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(60), "a few acknowledged writes") { acknowledged.all.count >= 40 }
                kill(first.pid, SIGKILL)
                try await group.waitForAll()
            }
        }
        try await waitUntil(timeout: .seconds(10), "the killed server to be gone") { !first.isRunning }
        let written = acknowledged.all
        #expect(written.count >= 40)

        let second = try Self.start(folder, arguments: ["--port", "\(port)"], log: "restarted.log")
        defer { second.stop() }
        try await Self.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the restarted API\n\(second.logTail())") {
                try await Self.call(client, .GET, "\(base)/info").status == 200
            }
            var missing: [String] = []
            for name in written where try await Self.call(client, .GET, "\(base)/gateways/\(name)").status != 200 { missing.append(name) }
            #expect(missing.isEmpty, "acknowledged but lost after SIGKILL: \(missing)")
            let store = try FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv"))
            try await waitUntil(timeout: .seconds(15), "the KV text to match the stored gateways after the restart") {
                let shown = try await Self.call(client, .GET, "\(base)/vga/haproxy/2.6/configuration").body
                return try await store.get(Self.key)?.string == shown && !shown.isEmpty
            }
        }
    }
}

/// Names collected by concurrent writers.
final class Names: Sendable {
    private let names = Mutex<[String]>([])
    func append(_ name: String) { names.withLock { $0.append(name) } }
    var all: [String] { names.withLock { $0 } }
}
