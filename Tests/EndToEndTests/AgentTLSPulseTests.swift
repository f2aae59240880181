import Foundation
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The built `vamp-gateway-agent` sending its figures to the built `vamp-server` serving its API over HTTPS with a
/// certificate of the test's own CA: `--vamp-ca-file` with that CA is what makes the agent's calls work.
@Suite("End to end: a gateway agent's calls to vamp-server over HTTPS (--vamp-ca-file)", .serialized)
struct AgentTLSPulseTests {
    typealias E2E = CanaryReleaseTests
    static let secret = "edge-agent-secret-0123456789abcdef012345"

    /// `curl` of the API trusting `caFile`: the status code and the body.
    static func call(_ server: VampServerFixture, _ arguments: [String], _ path: String) async throws -> (status: Int, body: String) {
        let caFile = try #require(server.tls?.caFile)
        let result = try await Curl.run(
            ["--cacert", caFile.path, "-H", "Authorization: Bearer \(VampServerFixture.adminToken)", "-H", "Accept: application/json",
             "-w", "\n%{http_code}"] + arguments + ["\(server.host.absoluteString)/api/v1\(path)"])
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        guard result.status == 0, let code = lines.last.flatMap({ Int($0) }) else {
            throw FixtureError("curl \(path): \(result.status) \(result.errors)")
        }
        return (code, lines.dropLast().joined(separator: "\n"))
    }

    /// The requests the server has counted for the gateway `edge` in the last ten minutes.
    static func serverRequests(_ server: VampServerFixture) async throws -> Int {
        let text = try await call(server, [], "/metrics/gateways/edge?window=600s").body
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return (object?["figures"] as? [String: Any])?["requests"] as? Int ?? -1
    }

    /// Starts an agent on the server's gateways, sending to its HTTPS URL with `caFile` (none: `VAMP_CA_FILE` empty,
    /// the system's CAs), and waits until it serves the gateway.
    static func agent(_ name: String, caFile: URL?, server: VampServerFixture, gatewayPort: Int, log: URL) async throws -> (ExternalProcess, Int) {
        let work = server.folder.url.appendingPathComponent("agent-\(name)")
        let status = try FreePort.next()
        let process = try ExternalProcess(
            executable: E2E.bin.appendingPathComponent("vamp-gateway-agent").path,
            arguments: ["--work-directory", work.path, "--socket-directory", work.appendingPathComponent("run").path,
                        "--status", "127.0.0.1:\(status)", "--vamp-url", server.host.absoluteString, "--vamp-token", Self.secret,
                        "--pulse-name", name] + (caFile.map { ["--vamp-ca-file", $0.path] } ?? []),
            environment: ["VAMP_KEY_VALUE_STORE_TYPE": "file", "VAMP_KEY_VALUE_STORE_CONNECTION": server.folder.url.appendingPathComponent(".vamp/kv").path,
                          "VAMP_KEY_VALUE_STORE_PATH": "/vamp/vamp/gateways/haproxy/2.6/configuration", "VAMP_CA_FILE": ""],
            workingDirectory: server.folder.url, logFile: log, installHint: "build it first: swift build --build-tests")
        _ = try await E2E.eventually("agent \(name) serving the gateway\n\(process.logTail())") {
            (try? HTTPProbe.get(port: status, path: "/health"))?.body.contains("\"haproxy\":\"running\"") == true
                && (try? HTTPProbe.get(port: gatewayPort))?.status == 200
        }
        return (process, status)
    }

    /// Stops an agent (and so its HAProxy) and waits for it to exit.
    static func stop(_ agent: ExternalProcess) async throws {
        kill(agent.pid, SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the agent to exit after SIGTERM\n\(agent.logTail())") { !agent.isRunning }
    }

    @Test("with --vamp-ca-file of the server's CA the agent's Pulse posts reach vamp-server over HTTPS (20 requests counted there); without it, or with another CA, every post fails and the log says the certificate is not trusted and names --vamp-ca-file",
          .timeLimit(.minutes(3)))
    func caFile() async throws {
        let pki = try TemporaryDirectory(prefix: "agent-tls-pki")
        defer { pki.remove() }
        let authority = try await TestCertificateAuthority(in: pki.url)
        let issued = try await authority.issue("vamp", serial: "A6E47001")
        let otherFolder = pki.url.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
        let other = try await TestCertificateAuthority(in: otherFolder, name: "Another CA")
        let tokens = pki.url.appendingPathComponent("tokens.yaml")
        try "- {name: edge, role: agent, secret: \(Self.secret)}\n".write(to: tokens, atomically: true, encoding: .utf8)
        let server = try await VampServerFixture(
            binaries: E2E.bin, extraEnvironment: ["VAMP_GATEWAY_AGENT_EMBEDDED": "false", "VAMP_HTTP_API_TOKENS_FILE": tokens.path],
            tls: (issued, authority.caFile))
        defer { server.tearDown() }
        #expect(server.host.scheme == "https")
        let service = try TestHTTPService(name: "a")
        let gatewayPort = try FreePort.next()
        let created = try await Self.call(
            server, ["-X", "POST", "-H", "Content-Type: application/x-yaml", "--data-binary",
                     "name: edge\nport: \(gatewayPort)/http\nroutes:\n  \"[127.0.0.1:\(service.port)]\": {weight: 100%}\n"], "/gateways")
        #expect(created.status == 202, "\(created.body)")

        // Trusting the server's CA: the buckets go through, and the server counts the requests they carry.
        let trusted = pki.url.appendingPathComponent("agent-trusted.log")
        let (agent, status) = try await Self.agent("trusting", caFile: authority.caFile, server: server, gatewayPort: gatewayPort, log: trusted)
        var before = 0
        _ = try await E2E.eventually("the probes' figures reach the server\n\(agent.logTail())") {
            before = try await Self.serverRequests(server)
            return before > 0
        }
        for _ in 0..<20 { #expect(try HTTPProbe.get(port: gatewayPort, path: "/over-tls").status == 200) }
        var counted = 0
        do {
            _ = try await E2E.eventually("the server counts the 20 requests", timeout: .seconds(20)) {
                counted = try await Self.serverRequests(server) - before
                return counted >= 20
            }
        } catch {
            Issue.record("\(error): \(counted)\n\(agent.logTail())")
        }
        let metrics = try HTTPProbe.get(port: status, path: "/metrics").body
        let sent = PulseEndToEndTests.sample(metrics, "vamp_gateway_agent_pulse_buckets_sent_total") ?? 0
        print("e2e agent over TLS: buckets sent \(sent), server requests \(before) + \(counted)")
        #expect(sent > 0, "\(metrics)")
        #expect(PulseEndToEndTests.sample(metrics, "vamp_gateway_agent_pulse_send_failures_total") == 0, "\(metrics)")
        #expect(!agent.logTail().contains("cannot send the Pulse buckets"), "\(agent.logTail())")
        try await Self.stop(agent)
        let settled = try await Self.serverRequests(server)

        // Without the CA file (the system's CAs), then trusting another CA: refused, and the log says why.
        for (name, caFile) in [("system-cas", nil), ("other-ca", other.caFile)] as [(String, URL?)] {
            let log = pki.url.appendingPathComponent("agent-\(name).log")
            let (refused, status) = try await Self.agent(name, caFile: caFile, server: server, gatewayPort: gatewayPort, log: log)
            for _ in 0..<5 { #expect(try HTTPProbe.get(port: gatewayPort, path: "/refused").status == 200) }
            _ = try await E2E.eventually("\(name): the log to say why the buckets are not sent\n\(refused.logTail())", timeout: .seconds(20)) {
                refused.logTail().contains("cannot send the Pulse buckets to vamp-server")
            }
            let text = refused.logTail()
            #expect(text.contains("vamp-server's TLS certificate is not trusted") && text.contains("(--vamp-ca-file, VAMP_CA_FILE)"), "\(name): \(text)")
            let health = try HTTPProbe.get(port: status, path: "/health").body
            #expect(health.contains("\"send_error\":") && health.contains("not trusted"), "\(name): \(health)")
            let failures = PulseEndToEndTests.sample(try HTTPProbe.get(port: status, path: "/metrics").body, "vamp_gateway_agent_pulse_send_failures_total") ?? 0
            #expect(failures > 0, "\(name)")
            print("e2e agent over TLS, \(name): send failures \(failures); log: \(text.components(separatedBy: "\n").first { $0.contains("cannot send") } ?? "")")
            try await Self.stop(refused)
        }
        // The refused agents' requests never reached the server.
        #expect(try await Self.serverRequests(server) == settled)
    }
}
