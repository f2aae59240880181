import AsyncHTTPClient
import Foundation
import KVStores
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-server` with its embedded gateway agent and a real HAProxy: README's quick start, restarts
/// under load (SIGTERM and SIGKILL), and the `vamp.gateway-agent.embedded` setting. Every process a test starts is
/// stopped by a `defer`, HAProxy included, also when the test fails.
@Suite("vamp-server embedded gateway agent", .serialized)
struct EmbeddedAgentTests {
    static let haproxy = "/usr/sbin/haproxy"

    /// Fails (not skips) without HAProxy, with the command that installs it.
    static func requireHAProxy() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: haproxy),
            "HAProxy is not installed at \(haproxy): apt-get install -y haproxy (Scripts/test and Scripts/quickstart install it)")
    }

    /// The example service: `sava --port N --text T` answers T.
    static func sava(_ folder: TemporaryDirectory, text: String) throws -> (process: ExternalProcess, port: Int) {
        let port = try FreePort.next()
        let process = try ExternalProcess(
            executable: ServerExecutableTests.executable("sava"), arguments: ["--port", "\(port)", "--text", text],
            logFile: folder.url.appendingPathComponent("sava-\(text).log"), installHint: "build it first: swift build --build-tests")
        return (process, port)
    }

    static var workDirectory: String { ".vamp/gateway-agent" }

    /// HAProxy masters (not workers: a worker's parent is its master) running on `folder`'s configuration.
    static func masters(of folder: TemporaryDirectory) -> [Int32] {
        func commandLine(_ pid: Int32) -> String {
            FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        func parent(_ pid: Int32) -> Int32? {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").first { $0.hasPrefix("PPid:") }.flatMap { Int32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
        }
        func isZombie(_ pid: Int32) -> Bool {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        let configuration = folder.url.appendingPathComponent("\(workDirectory)/haproxy.cfg").path
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        let haproxies = pids.filter { commandLine($0).hasPrefix(haproxy) && commandLine($0).contains(configuration) && !isZombie($0) }
        return haproxies.filter { pid in !haproxies.contains(parent(pid) ?? -1) && !commandLine(pid).contains("\0-c\0") }.sorted()
    }

    /// Teardown: the HAProxy masters the embedded agent left on `folder` (it leaves them serving by design).
    static func stopHAProxy(of folder: TemporaryDirectory) {
        for pid in masters(of: folder) {
            kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(5)
            while masters(of: folder).contains(pid) && ContinuousClock.now < deadline { usleep(20_000) }
            if masters(of: folder).contains(pid) { kill(pid, SIGKILL) }
        }
    }

    /// `GET /` on the gateway's port answered with `text`.
    static func serves(_ port: Int, _ text: String) -> Bool {
        guard let response = try? HTTPProbe.get(port: port, timeoutSeconds: 2) else { return false }
        return response.status == 200 && response.body == text + "\n"
    }

    static func createGateway(_ client: HTTPClient, api: String, name: String, port: Int, backend: Int) async throws {
        let created = try await ServerExecutableTests.call(
            client, .POST, "\(api)/gateways", yaml: ServerExecutableTests.gateway(name, port: port, backend: backend))
        #expect(created.status == 202, "\(created.body)")
    }

    @Test("README's quick start: vamp-server alone, no setting, an empty folder; a gateway POSTed to 127.0.0.1:8080 answers through the embedded HAProxy")
    func readmeQuickStart() async throws {
        try Self.requireHAProxy()
        #expect(!FreePort.isAccepting(8080), "port 8080 (the README's API port) is taken by another program; stop it")
        let folder = try TemporaryDirectory(prefix: "vamp-quickstart")
        defer { folder.remove() }
        let (backend, backendPort) = try Self.sava(folder, text: "hello")
        defer { backend.stop() }
        let gatewayPort = try FreePort.next()
        let server = try ServerExecutableTests.start(folder, embedded: true, firstStart: true)
        defer {
            server.stop()
            Self.stopHAProxy(of: folder)
        }
        try await ServerExecutableTests.withClient { client in
            // Safe without reading anything: the API answers 401 to a request without a token.
            // The first start prints its admin token once and writes it to an owner-only file, while the API may
            // already answer (a user reads the file once the server said it wrote it).
            let tokenFile = folder.url.appendingPathComponent(".vamp/admin-token").path
            try await waitUntil(timeout: .seconds(30), "the API on 127.0.0.1:8080 and the admin token\n\(server.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "http://127.0.0.1:8080/api/v1/info", token: nil).status == 401
                    && FileManager.default.fileExists(atPath: tokenFile)
            }
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("vamp_") && token.count > 60, "\(token)")
            let mode = try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int
            #expect(mode == 0o600, "the token file is readable by its owner only (mode \(String(mode ?? 0, radix: 8)))")
            #expect(server.logTail().contains(token), "the server printed the token\n\(server.logTail())")
            func call(_ method: HTTPMethod, _ url: String) async throws -> (status: Int, body: String) {
                try await ServerExecutableTests.call(client, method, url, token: token)
            }
            #expect(try await call(.GET, "http://127.0.0.1:8080/api/v1/info").status == 200)
            let posted = ContinuousClock.now
            let created = try await ServerExecutableTests.call(
                client, .POST, "http://127.0.0.1:8080/api/v1/gateways",
                yaml: ServerExecutableTests.gateway("quickstart-\(gatewayPort)", port: gatewayPort, backend: backendPort), token: token)
            #expect(created.status == 202, "\(created.body)")
            try await waitUntil(timeout: .seconds(5), "the gateway to answer through the embedded HAProxy within 5 s\n\(server.logTail())") {
                Self.serves(gatewayPort, "hello")
            }
            print("quick start: the gateway answered \(ContinuousClock.now - posted) after the POST")
            // The CLI started in the same folder finds the token with no more setup.
            let cli = try ExternalProcess(
                executable: ServerExecutableTests.executable("vamp"), arguments: ["list", "gateways"],
                environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VAMP_") }, workingDirectory: folder.url,
                logFile: folder.url.appendingPathComponent("cli.log"), installHint: "build it first: swift build --build-tests")
            try await waitUntil(timeout: .seconds(15), "vamp list gateways to exit") { !cli.isRunning }
            #expect(cli.terminationStatus == 0 && cli.logTail().contains("quickstart-\(gatewayPort)"), "\(cli.logTail())")
            let info = try await call(.GET, "http://127.0.0.1:8080/api/v1/info?on=gateway_agent")
            #expect(info.body.contains("\"embedded\":true") && info.body.contains("\"haproxy\":\"running\""), "\(info.body)")
            #expect(FileManager.default.fileExists(atPath: folder.url.appendingPathComponent(".vamp/vamp.sqlite").path))
            let text = try await FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv")).get(ServerExecutableTests.key)?.string
            let shown = try await call(.GET, "http://127.0.0.1:8080/api/v1/vga/haproxy/2.6/configuration")
            #expect(text == shown.body, "the KV store holds the text the API shows")
            let metrics = try await call(.GET, "http://127.0.0.1:8080/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("http_server_request_duration") && metrics.body.contains("vamp_store_duration_seconds"),
                    "Prometheus /metrics: request durations by route and store latency")
        }
        #expect(Self.masters(of: folder).count == 1)
        kill(server.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the server to exit after SIGTERM\n\(server.logTail())") { !server.isRunning }
        #expect(server.exitedNormally && server.terminationStatus == 0, "\(server.logTail())")
        #expect(Self.serves(gatewayPort, "hello"), "HAProxy keeps serving after the server stopped")
        // The operator's way to stop everything: the server first, then its HAProxy.
        let stop = try ExternalProcess(
            executable: ServerExecutableTests.executable("vamp-server"), arguments: ["--stop-gateway"], workingDirectory: folder.url,
            logFile: folder.url.appendingPathComponent("stop.log"), installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(15), "vamp-server --stop-gateway to exit") { !stop.isRunning }
        #expect(stop.terminationStatus == 0, "\(stop.logTail())")
        #expect(Self.masters(of: folder).isEmpty, "\(stop.logTail())")
        #expect(!Self.serves(gatewayPort, "hello"))
    }

    @Test("restarts under load (SIGTERM, then SIGKILL): no failed request through the gateway, one HAProxy master, taken over each time")
    func restartsUnderLoad() async throws {
        try Self.requireHAProxy()
        let folder = try TemporaryDirectory(prefix: "vamp-restart")
        defer { folder.remove() }
        let (backend, backendPort) = try Self.sava(folder, text: "steady")
        defer { backend.stop() }
        let (apiPort, gatewayPort) = (try FreePort.next(), try FreePort.next())
        let api = "http://127.0.0.1:\(apiPort)/api/v1"
        let servers = Mutex<[ExternalProcess]>([])
        func startServer(_ log: String) throws -> ExternalProcess {
            let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(apiPort)"], embedded: true, log: log)
            servers.withLock { $0.append(server) }
            return server
        }
        let load = LoadLoop(port: gatewayPort, text: "steady")
        defer {
            load.stop()
            for server in servers.withLock({ $0 }) { server.stop() }
            Self.stopHAProxy(of: folder)
        }
        try await ServerExecutableTests.withClient { client in
            func waitForAgent(_ server: ExternalProcess) async throws {
                try await waitUntil(timeout: .seconds(30), "the API and the embedded agent's HAProxy\n\(server.logTail())") {
                    let info = try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent")
                    return info.status == 200 && info.body.contains("\"haproxy\":\"running\"")
                }
            }
            let first = try startServer("first.log")
            try await waitForAgent(first)
            try await Self.createGateway(client, api: api, name: "restart-\(gatewayPort)", port: gatewayPort, backend: backendPort)
            try await waitUntil(timeout: .seconds(10), "the gateway to serve\n\(first.logTail())") { Self.serves(gatewayPort, "steady") }
            let master = try #require(Self.masters(of: folder).first)

            load.start()
            try await Task.sleep(for: .seconds(1))
            kill(first.pid, SIGTERM)
            try await waitUntil(timeout: .seconds(15), "the first server to exit after SIGTERM\n\(first.logTail())") { !first.isRunning }
            #expect(first.terminationStatus == 0, "\(first.logTail())")
            try await Task.sleep(for: .seconds(1))
            let second = try startServer("second.log")
            try await waitForAgent(second)
            try await Task.sleep(for: .seconds(1))
            kill(second.pid, SIGKILL)
            try await waitUntil(timeout: .seconds(10), "the second server to die") { !second.isRunning }
            try await Task.sleep(for: .seconds(1))
            let third = try startServer("third.log")
            try await waitForAgent(third)
            try await Task.sleep(for: .seconds(1))
            load.stop()

            let (succeeded, failures) = load.result
            print("restarts under load: \(succeeded) requests succeeded, \(failures.count) failed")
            #expect(succeeded > 100, "the load loop ran")
            #expect(failures.isEmpty, "failed requests through the gateway during the restarts: \(failures.prefix(5))")
            #expect(Self.masters(of: folder) == [master], "exactly one master, the first one, taken over by each start")
            #expect(third.logTail(maxBytes: 20000).contains("took over the HAProxy master"), "\(third.logTail())")
        }
    }

    @Test("a gateway on a port another program holds: HAProxy refuses it, /info shows the error, the API and the other gateways keep serving")
    func busyPort() async throws {
        try Self.requireHAProxy()
        let folder = try TemporaryDirectory(prefix: "vamp-busy-port")
        defer { folder.remove() }
        let (backend, backendPort) = try Self.sava(folder, text: "kept")
        defer { backend.stop() }
        let (apiPort, goodPort, busyPort) = (try FreePort.next(), try FreePort.next(), try FreePort.next())
        // Another program on the port, without SO_REUSEPORT, so HAProxy cannot bind it too.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(busyPort).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(holder, 8) == 0, "cannot hold port \(busyPort): errno \(errno)")
        let api = "http://127.0.0.1:\(apiPort)/api/v1"
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(apiPort)"], embedded: true)
        defer {
            server.stop()
            Self.stopHAProxy(of: folder)
        }
        try await ServerExecutableTests.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API and the embedded agent's HAProxy\n\(server.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body.contains("\"haproxy\":\"running\"")
            }
            try await Self.createGateway(client, api: api, name: "good-\(goodPort)", port: goodPort, backend: backendPort)
            try await waitUntil(timeout: .seconds(10), "the first gateway to serve\n\(server.logTail())") { Self.serves(goodPort, "kept") }
            try await Self.createGateway(client, api: api, name: "busy-\(busyPort)", port: busyPort, backend: backendPort)
            try await waitUntil(timeout: .seconds(30), "/info to show the refused configuration\n\(server.logTail())") {
                let info = try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body
                return info.contains("\"last_error\"") && info.contains("\"healthy\":false")
            }
            #expect(Self.serves(goodPort, "kept"), "the running configuration keeps serving")
            #expect(try await ServerExecutableTests.call(client, .GET, "\(api)/gateways").status == 200, "the API keeps serving")
        }
        #expect(server.isRunning)
    }

    @Test("vamp.gateway-agent.log-socket: HAProxy logs through the unix socket, the embedded agent forwards JSON lines over UDP")
    func embeddedLogSocket() async throws {
        try Self.requireHAProxy()
        let folder = try TemporaryDirectory(prefix: "vamp-log-socket")
        defer { folder.remove() }
        let (backend, backendPort) = try Self.sava(folder, text: "logged")
        defer { backend.stop() }
        let logstash = try UDPReceiver()
        let (apiPort, gatewayPort) = (try FreePort.next(), try FreePort.next())
        let socket = folder.url.appendingPathComponent("log.sock").path
        let api = "http://127.0.0.1:\(apiPort)/api/v1"
        let server = try ServerExecutableTests.start(folder, arguments: ["--port", "\(apiPort)"], environment: [
            "VAMP_GATEWAY_AGENT_LOG_SOCKET": socket, "VAMP_GATEWAY_AGENT_LOGSTASH": "127.0.0.1:\(logstash.port)",
        ], embedded: true)
        defer {
            server.stop()
            Self.stopHAProxy(of: folder)
        }
        try await ServerExecutableTests.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API and the embedded agent's HAProxy\n\(server.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "\(api)/info?on=gateway_agent").body.contains("\"haproxy\":\"running\"")
            }
            try await Self.createGateway(client, api: api, name: "logged-\(gatewayPort)", port: gatewayPort, backend: backendPort)
            try await waitUntil(timeout: .seconds(10), "the gateway to serve\n\(server.logTail())") { Self.serves(gatewayPort, "logged") }
        }
        let configuration = try String(contentsOf: folder.url.appendingPathComponent("\(Self.workDirectory)/haproxy.cfg"), encoding: .utf8)
        #expect(configuration.contains("  log \(socket) len 8192 local0\n"), "\(configuration.prefix(400))")
        for _ in 0..<3 { _ = Self.serves(gatewayPort, "logged") }
        var line: [String: Any]?
        while line == nil, let datagram = logstash.receive(timeoutMilliseconds: 3000) {
            line = try JSONSerialization.jsonObject(with: Data(datagram.utf8)) as? [String: Any]
        }
        #expect(line?["ST"] as? Int == 200, "no JSON log line forwarded from \(socket)\n\(server.logTail())")
    }

    @Test("vamp.gateway-agent.embedded=false runs no HAProxy and says a vamp-gateway-agent must watch the key")
    func embeddedOff() async throws {
        try Self.requireHAProxy()
        let folder = try TemporaryDirectory(prefix: "vamp-embedded-off")
        defer { folder.remove() }
        let (apiPort, gatewayPort) = (try FreePort.next(), try FreePort.next())
        let server = try ServerExecutableTests.start(
            folder, arguments: ["--port", "\(apiPort)"], environment: ["VAMP_GATEWAY_AGENT_EMBEDDED": "false"])
        defer {
            server.stop()
            Self.stopHAProxy(of: folder)
        }
        try await ServerExecutableTests.withClient { client in
            try await waitUntil(timeout: .seconds(30), "the API\n\(server.logTail())") {
                try await ServerExecutableTests.call(client, .GET, "http://127.0.0.1:\(apiPort)/api/v1/info").status == 200
            }
            try await Self.createGateway(client, api: "http://127.0.0.1:\(apiPort)/api/v1", name: "off-\(gatewayPort)", port: gatewayPort, backend: 9)
            let store = try FileKeyValueStore(root: folder.url.appendingPathComponent(".vamp/kv"))
            try await waitUntil(timeout: .seconds(10), "the gateway in the KV key") {
                try await store.get(ServerExecutableTests.key)?.string.contains("off-\(gatewayPort)") == true
            }
            try await Task.sleep(for: .seconds(2))
            let info = try await ServerExecutableTests.call(client, .GET, "http://127.0.0.1:\(apiPort)/api/v1/info?on=gateway_agent")
            #expect(info.body.contains("\"embedded\":false"), "\(info.body)")
        }
        #expect(!FreePort.isAccepting(gatewayPort), "no HAProxy serves the gateway")
        #expect(Self.masters(of: folder).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder.url.appendingPathComponent(Self.workDirectory).path))
        #expect(server.logTail().contains("a separate vamp-gateway-agent must watch"), "\(server.logTail())")
    }

    @Test("vamp.gateway-agent.embedded=true without HAProxy stops the server at start, naming the setting and the install command")
    func embeddedWithoutHAProxy() async throws {
        let folder = try TemporaryDirectory(prefix: "vamp-embedded-missing")
        defer { folder.remove() }
        let server = try ServerExecutableTests.start(folder, environment: [
            "VAMP_GATEWAY_AGENT_EMBEDDED": "true", "VAMP_GATEWAY_DRIVER_HAPROXY_EXECUTABLE": folder.url.appendingPathComponent("no-haproxy").path,
        ])
        defer { server.stop() }
        try await waitUntil(timeout: .seconds(15), "the server to refuse to start") { !server.isRunning }
        #expect(server.terminationStatus != 0)
        #expect(server.logTail().contains("vamp.gateway-agent.embedded"), "\(server.logTail())")
        #expect(server.logTail().contains("apt-get install haproxy"), "\(server.logTail())")
    }
}

/// Requests to a gateway port one after the other, each on a new connection (as a client that does not reuse
/// connections sees a restart), on a thread of its own: the probe blocks, and must not block the test's pool.
final class LoadLoop: Sendable {
    let port: Int
    let text: String
    private let state = Mutex<(running: Bool, succeeded: Int, failures: [String])>((false, 0, []))
    private let finished = Mutex<Bool>(true)

    init(port: Int, text: String) {
        self.port = port
        self.text = text
    }

    func start() {
        state.withLock { $0.running = true }
        finished.withLock { $0 = false }
        Thread.detachNewThread { [self] in
            while state.withLock({ $0.running }) {
                let outcome: String?
                do {
                    let response = try HTTPProbe.get(port: port, timeoutSeconds: 5)
                    outcome = response.status == 200 && response.body == text + "\n" ? nil : "\(response.status) \(response.body.prefix(80))"
                } catch {
                    outcome = "\(error)"
                }
                state.withLock { state in
                    if let outcome { state.failures.append(outcome) } else { state.succeeded += 1 }
                }
            }
            finished.withLock { $0 = true }
        }
    }

    /// Stops the loop and waits for its last request.
    func stop() {
        state.withLock { $0.running = false }
        while !finished.withLock({ $0 }) { usleep(5_000) }
    }

    var result: (succeeded: Int, failures: [String]) { state.withLock { ($0.succeeded, $0.failures) } }
}
