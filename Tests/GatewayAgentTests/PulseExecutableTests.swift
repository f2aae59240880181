import Foundation
import HAProxyConfigGen
import KVStores
import Synchronization
import Testing
import VampModel
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-gateway-agent`'s Pulse as an operator runs it: on by default, its figures sent to `--vamp-url`.
@Suite("vamp-gateway-agent's Pulse", .serialized)
struct PulseExecutableTests {
    @Test("no log flag: HAProxy logs to a UDP port of the agent (kept in <work>/log-port), the figures reach --vamp-url with the token file; --pulse off: HAProxy logs nowhere")
    func onByDefaultAndPushed() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-pulse")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let kv = folder.url.appendingPathComponent("kv"), work = folder.url.appendingPathComponent("work")
        let key = "/vamp/pulse/gateways/haproxy/2.6/configuration"
        let service = try TestHTTPService(name: "a")
        let (gatewayPort, statusPort, serverPort) = (try FreePort.next(), try FreePort.next(), try FreePort.next())
        let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: work.appendingPathComponent("run").path))
        let gateway = Gateway(name: "pulse", port: GatewayPort(number: gatewayPort), routes: [
            Route(path: "a", weight: Percentage(100), targets: [.instance(name: "a", host: "127.0.0.1", port: service.port)]),
        ])
        try await FileKeyValueStore(root: kv).set(key, string: try generator.render([gateway]))
        let tokenFile = folder.url.appendingPathComponent("agent-token")
        try "agent-secret\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let receiver = try await PulseReceiver(port: serverPort)
        let environment = ["VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": kv.path, "VAMP_KEY_VALUE_STORE_PATH": key]
        let common = ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path, "--status", "127.0.0.1:\(statusPort)"]

        let agent = try ExternalProcess(
            executable: ExecutableTests.executable,
            arguments: common + ["--vamp-url", "http://127.0.0.1:\(serverPort)", "--vamp-token-file", tokenFile.path, "--pulse-name", "edge"],
            environment: environment, logFile: folder.url.appendingPathComponent("agent.log"), installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(30), "the gateway to serve through the agent's HAProxy\n\(agent.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "a"
        }
        let file = try String(contentsOf: work.appendingPathComponent("haproxy.cfg"), encoding: .utf8)
        let logPort = try String(contentsOf: work.appendingPathComponent("log-port"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(file.contains("  log 127.0.0.1:\(logPort) len 8192 local0\n"), "\(file.prefix(300))")
        for _ in 0..<10 { #expect(try HTTPProbe.get(port: gatewayPort, path: "/counted").status == 200) }
        try await waitUntil(timeout: .seconds(15), "the figures to reach the receiver\n\(agent.logTail())") {
            let requests = receiver.collector.requests(gateway.lookupName)
            return requests >= 11 && requests == receiver.collector.haproxy(gateway.lookupName)
        }
        #expect(receiver.log.posts.withLock { $0.allSatisfy { $0.authorization == "Bearer agent-secret" } })
        #expect(receiver.seconds.keys.allSatisfy { $0.hasPrefix("edge:\(work.path)#") }, "\(receiver.seconds.keys)")
        let health = try HTTPProbe.get(port: statusPort, path: "/health").body
        #expect(health.contains("\"pulse\":{") && health.contains("\"uncounted\":0"), "\(health)")
        kill(agent.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM") { !agent.isRunning }
        #expect(agent.terminationStatus == 0, "\(agent.logTail())")
        await receiver.stop()

        // Off, and no Logstash: no socket, HAProxy logs nowhere, /health has no pulse.
        let off = try ExternalProcess(
            executable: ExecutableTests.executable, arguments: common + ["--pulse", "off"], environment: environment,
            logFile: folder.url.appendingPathComponent("agent-off.log"), installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(30), "the gateway to serve with --pulse off\n\(off.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "a"
        }
        // It starts on the last good file (the previous run's, with its log line), then applies the store's text on
        // its own base.
        try await waitUntil(timeout: .seconds(15), "the configuration without a log line\n\(off.logTail())") {
            let quiet = try String(contentsOf: work.appendingPathComponent("haproxy.cfg"), encoding: .utf8)
            return !quiet.contains("  log /") && !quiet.contains("  log 127") && quiet.contains(gateway.lookupName)
        }
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("log.sock").path))
        #expect(try !HTTPProbe.get(port: statusPort, path: "/health").body.contains("pulse"))
        kill(off.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM") { !off.isRunning }
        #expect(off.terminationStatus == 0, "\(off.logTail())")
    }

    @Test("lines lost on the way are visible: with the agent stopped (SIGSTOP) HAProxy serves on and drops what its log socket cannot queue; /health then shows as many uncounted requests as HAProxy's dropped lines")
    func lostLinesAreVisible() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-pulse-lost")
        defer { folder.remove() }
        defer { Teardown.stopHAProxy(in: folder.url.path) }
        let kv = folder.url.appendingPathComponent("kv"), work = folder.url.appendingPathComponent("work")
        let key = "/vamp/pulse/gateways/haproxy/2.6/configuration"
        let service = try TestHTTPService(name: "a")
        let (gatewayPort, statusPort) = (try FreePort.next(), try FreePort.next())
        let generator = HAProxyConfigurationGenerator(options: .init(bindAddress: "127.0.0.1", socketDirectory: work.appendingPathComponent("run").path))
        try await FileKeyValueStore(root: kv).set(key, string: try generator.render([Gateway(name: "lost", port: GatewayPort(number: gatewayPort), routes: [
            Route(path: "a", weight: Percentage(100), targets: [.instance(name: "a", host: "127.0.0.1", port: service.port)]),
        ])]))
        let agent = try ExternalProcess(
            executable: ExecutableTests.executable,
            // The owner-only log socket (Linux queues 10 datagrams on it): the default UDP port's 4 MB buffer would hold
            // every line of this test while the agent is stopped.
            arguments: ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path, "--status", "127.0.0.1:\(statusPort)",
                        "--log-socket", work.appendingPathComponent("log.sock").path],
            environment: ["VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": kv.path, "VAMP_KEY_VALUE_STORE_PATH": key],
            logFile: folder.url.appendingPathComponent("agent.log"), installHint: "build it first: swift build --build-tests")
        defer { kill(agent.pid, SIGCONT) }
        try await waitUntil(timeout: .seconds(30), "the gateway to serve\n\(agent.logTail())") {
            (try? HTTPProbe.get(port: gatewayPort))?.header("X-Served-By") == "a"
        }
        func pulse() throws -> [String: Any] {
            let body = try HTTPProbe.get(port: statusPort, path: "/health").body
            return try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["pulse"] as? [String: Any], "\(body)")
        }
        try await waitUntil(timeout: .seconds(10), "Pulse and HAProxy to agree on the probes") {
            let figures = try pulse()
            return figures["haproxy_requests"] as? Int ?? 0 > 0 && figures["uncounted"] as? Int == 0
        }

        kill(agent.pid, SIGSTOP)
        // 50 requests, 100 lines (the gateway's and the route's): the socket queues a few, HAProxy drops the rest.
        for _ in 0..<50 { #expect(try HTTPProbe.get(port: gatewayPort, path: "/while-stopped").status == 200) }
        kill(agent.pid, SIGCONT)
        try await waitUntil(timeout: .seconds(10), "the lost lines to show\n\(agent.logTail())") {
            let figures = try pulse()
            let dropped = figures["haproxy_dropped_lines"] as? Int ?? 0
            return dropped > 0 && figures["uncounted"] as? Int == dropped
        }
        let figures = try pulse()
        #expect((figures["uncounted_by_frontend"] as? [String: Int])?.values.reduce(0, +) == figures["haproxy_dropped_lines"] as? Int, "\(figures)")
        let metrics = try HTTPProbe.get(port: statusPort, path: "/metrics").body
        #expect(metrics.contains("vamp_gateway_agent_pulse_haproxy_dropped_lines_total \(figures["haproxy_dropped_lines"] as? Int ?? -1)"), "\(metrics)")
        kill(agent.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM") { !agent.isRunning }
    }

    @Test("a --vamp-url that is not http(s) is an error at start naming the flag, with a non-zero exit")
    func badURL() async throws {
        let folder = try TemporaryDirectory(prefix: "vga-pulse-url")
        defer { folder.remove() }
        let agent = try ExternalProcess(
            executable: ExecutableTests.executable, arguments: ["--work-directory", folder.url.path, "--vamp-url", "vamp:8080"],
            workingDirectory: folder.url, logFile: folder.url.appendingPathComponent("agent.log"), installHint: "build it first: swift build --build-tests")
        try await waitUntil(timeout: .seconds(15), "the agent to refuse the URL") { !agent.isRunning }
        #expect(agent.terminationStatus != 0)
        #expect(agent.logTail().contains("--vamp-url"), "\(agent.logTail())")
    }
}
