import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VampTesting

/// Two separate `vamp-gateway-agent`s on one KV key, each with its own HAProxy on the same gateway port (the kernel
/// shares the connections between them), sending their figures to `vamp-server` with a token of the `agent` role: the
/// server's figures are the exact merge of what both counted.
@Suite("End to end: two gateway agents' figures merged exactly", .serialized)
struct TwoAgentsPulseTests {
    typealias E2E = CanaryReleaseTests
    static let secret = "edge-agent-secret-0123456789abcdef012345"

    static func metric(_ port: Int, _ name: String) -> Double? {
        guard let answer = try? HTTPProbe.get(port: port, path: "/metrics"), answer.status == 200 else { return nil }
        return PulseEndToEndTests.sample(answer.body, name)
    }

    @Test("400 requests shared by two agents' HAProxy: each counted some, the server counts all 400, once")
    func twoAgentsMerge() async throws {
        let folder = try TemporaryDirectory(prefix: "two-agents")
        defer { folder.remove() }
        let tokens = folder.url.appendingPathComponent("tokens.yaml")
        try "- {name: edge, role: agent, secret: \(Self.secret)}\n".write(to: tokens, atomically: true, encoding: .utf8)
        let server = try await VampServerFixture.start(extraEnvironment: [
            "VAMP_GATEWAY_AGENT_EMBEDDED": "false", "VAMP_HTTP_API_TOKENS_FILE": tokens.path,
        ])
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let service = try TestHTTPService(name: "a")
        let gatewayPort = try FreePort.next()
        let (created, body) = try await E2E.call(
            client, .POST, "\(server.api)/gateways", yaml: "name: edge\nport: \(gatewayPort)/http\nroutes:\n  \"[127.0.0.1:\(service.port)]\": {weight: 100%}\n")
        #expect(created == 202, "\(body)")

        let kv = server.folder.url.appendingPathComponent(".vamp/kv").path
        var agents: [(process: ExternalProcess, status: Int)] = []
        for index in 1...2 {
            let work = server.folder.url.appendingPathComponent("agent-\(index)")
            let status = try FreePort.next()
            let process = try ExternalProcess(
                executable: E2E.bin.appendingPathComponent("vamp-gateway-agent").path,
                arguments: ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path,
                            "--status", "127.0.0.1:\(status)", "--vamp-url", server.host.absoluteString, "--vamp-token", Self.secret,
                            "--pulse-name", "edge-\(index)"],
                environment: ["VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": kv,
                              "VAMP_KEY_VALUE_STORE_PATH": "/vamp/vamp/gateways/haproxy/2.6/configuration"],
                workingDirectory: server.folder.url, logFile: folder.url.appendingPathComponent("agent-\(index).log"),
                installHint: "build it first: swift build --build-tests")
            agents.append((process, status))
        }
        for (process, status) in agents {
            try await E2E.eventually("agent on \(status) serving the gateway\n\(process.logTail())") {
                (try? HTTPProbe.get(port: status, path: "/health"))?.body.contains("\"haproxy\":\"running\"") == true
                    && (try? HTTPProbe.get(port: gatewayPort))?.status == 200
            }
        }
        // What the probes above counted, once it has all arrived (two equal reads 1.5 s apart).
        func serverRequests() async throws -> Int {
            let text = try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/edge?window=600s").1
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            return (object?["figures"] as? [String: Any])?["requests"] as? Int ?? -1
        }
        var probed = 0
        try await E2E.eventually("the probes' figures settle") {
            let first = try await serverRequests()
            try await Task.sleep(for: .milliseconds(1500))
            probed = try await serverRequests()
            return first == probed
        }
        // Both serve the port: SO_REUSEPORT shares new connections between their HAProxy processes.
        let before = agents.map { Self.metric($0.status, "vamp_gateway_agent_log_lines_parsed_total") ?? 0 }
        let total = 400
        for _ in 0..<total {
            #expect(try HTTPProbe.get(port: gatewayPort).status == 200)
        }
        var requests = 0
        do {
            try await E2E.eventually("the server counts all \(total) requests", timeout: .seconds(20)) {
                requests = try await serverRequests() - probed
                return requests >= total
            }
        } catch {
            Issue.record("\(error): \(requests)")
        }
        // A second later nothing more has come: each request counted once, by one agent.
        try await Task.sleep(for: .seconds(2))
        #expect(try await serverRequests() - probed == total, "the merge counts every request once")
        let counted = zip(agents, before).map { agent, before in (Self.metric(agent.status, "vamp_gateway_agent_log_lines_parsed_total") ?? 0) - before }
        print("e2e two agents: lines parsed per agent \(counted), server requests \(requests)")
        #expect(counted.allSatisfy { $0 > 0 }, "each agent's HAProxy served some of the requests: \(counted)")
        for (process, _) in agents { process.stop() }
    }
}
