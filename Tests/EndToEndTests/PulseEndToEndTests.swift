import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

/// Pulse end to end: the built `vamp-server` with its embedded agent and real HAProxy, `sava` processes answering
/// with the delay and status each request asks for, and a client that knows what it sent. The figures the server
/// reports are compared with the client's own: counts per route exactly, the 5xx share, p50 and p99 of the response
/// time, and HAProxy's own counters.
@Suite("End to end: Pulse figures from real HAProxy logs", .serialized)
struct PulseEndToEndTests {
    typealias E2E = CanaryReleaseTests

    /// What the client saw of one request.
    struct Seen: Sendable {
        var version: String
        var status: Int
        var milliseconds: Double
    }

    static func request(_ client: HTTPClient, port: Int, delay: Int, status: Int) async throws -> Seen {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/?delay=\(delay)&status=\(status)")
        request.headers.add(name: "Connection", value: "close")
        let start = ContinuousClock.now
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 16)
        let elapsed = ContinuousClock.now - start
        return Seen(
            version: String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines), status: Int(response.status.code),
            milliseconds: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[max(0, min(sorted.count - 1, rank))]
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    /// The value of a Prometheus series (first sample whose line starts with `name`), or nil.
    static func sample(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test("an 80/20 split under known traffic: counts per route exact, the 5xx share, p50/p99 within 10% or 2 ms of the client's, HAProxy's counters equal")
    func figuresMatchTheClient() async throws {
        let server = try await VampServerFixture.start()
        defer { server.tearDown() }
        let client = HTTPClient.shared
        let port = try FreePort.next()
        let (created, createdBody) = try await E2E.call(client, .POST, "\(server.api)/deployments", yaml: E2E.blueprint(gateway: port))
        #expect(created == 202, "\(createdBody)")
        let (merged, mergedBody) = try await E2E.call(client, .PUT, "\(server.api)/deployments/sava", yaml: E2E.canary)
        #expect(merged == 202, "\(mergedBody)")
        try await E2E.eventually("both versions Done\n\(server.process.logTail())") { try await E2E.allDone(client, server, "sava", ["sava:1.0", "sava:1.1"]) }
        let (_, gatewayJSON) = try await E2E.call(client, .GET, "\(server.api)/gateways/sava/web/web")
        let internalPort = try #require((Self.json(gatewayJSON)["port"] as? String)?.split(separator: "/").first.flatMap { Int($0) })
        let (split, splitBody) = try await E2E.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: E2E.split(80, 20, port: internalPort))
        #expect(split == 202, "\(splitBody)")
        try await E2E.eventually("a request reaches sava:1.1") { try await E2E.get(client, "http://127.0.0.1:\(port)/").1 == "sava:1.1" }
        // What came before the measured traffic is left out by waiting for a quiet window start.
        try await Task.sleep(for: .seconds(2))
        let before = Self.json(try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/web/web?window=600s").1)
        let beforeRequests = (before["figures"] as? [String: Any])?["requests"] as? Int ?? 0

        // 600 requests, 4 at a time: delays 0-40 ms by a fixed pattern, every tenth a 503.
        let delays = [0, 1, 2, 5, 10, 20, 40]
        let total = 600
        let seen = try await withThrowingTaskGroup(of: [Seen].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var seen: [Seen] = []
                    for index in stride(from: worker, to: total, by: 4) {
                        seen.append(try await Self.request(client, port: port, delay: delays[index % delays.count], status: index % 10 == 3 ? 503 : 200))
                    }
                    return seen
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let lastAnswer = ContinuousClock.now
        #expect(seen.count == total)
        var byVersion: [String: (requests: Int, errors: Int)] = [:]
        for request in seen {
            byVersion[request.version, default: (0, 0)].requests += 1
            if request.status >= 500 { byVersion[request.version, default: (0, 0)].errors += 1 }
        }
        #expect(Set(byVersion.keys) == ["sava:1.0", "sava:1.1"], "\(byVersion)")

        // The figures of the cluster gateway: every request, once, within a couple of seconds.
        var figures: [String: Any] = [:]
        let waited = try await E2E.eventually("the server's figures count all \(total) requests", timeout: .seconds(15)) {
            figures = Self.json(try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/web/web?window=600s").1)
            return (figures["figures"] as? [String: Any])?["requests"] as? Int == beforeRequests + total
        }
        print("e2e pulse: last answer to its figure in GET /metrics: \(ContinuousClock.now - lastAnswer) (polled every 20 ms: \(waited))")
        let routes = try #require(figures["routes"] as? [String: [String: Any]])
        for (version, counts) in byVersion {
            let route = try #require(routes["sava/web/\(version)/web"], "\(routes.keys)")
            let statuses = route["statuses"] as? [String: Int] ?? [:]
            let baseline = ((before["routes"] as? [String: [String: Any]])?["sava/web/\(version)/web"]?["requests"] as? Int) ?? 0
            #expect(route["requests"] as? Int == counts.requests + baseline, "\(version): the route counted what the client got from it")
            #expect(statuses["5xx"] == counts.errors, "\(version): 5xx")
        }

        // Response times: the public gateway's total time against the client's own clock.
        let external = Self.json(try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/\(port)?window=600s").1)
        let times = try #require((external["figures"] as? [String: Any])?["response_time"] as? [String: Double])
        let latencies = seen.map(\.milliseconds)
        for (name, p) in [("p50", 50.0), ("p99", 99.0)] {
            let clientSide = Self.percentile(latencies, p)
            let reported = try #require(times[name])
            print("e2e pulse: \(name) client \(clientSide) ms, gateway \(reported) ms")
            #expect(abs(reported - clientSide) <= max(2, clientSide * 0.1), "\(name): gateway \(reported) ms, client \(clientSide) ms")
        }

        // HAProxy's own counters and the lines the agent read agree once the traffic is over.
        try await E2E.eventually("HAProxy's count equals the lines counted", timeout: .seconds(15)) {
            let (_, text) = try await E2E.call(client, .GET, "http://127.0.0.1:\(server.apiPort)/metrics")
            guard let haproxy = Self.sample(text, "vamp_pulse_haproxy_requests_total"), let logged = Self.sample(text, "vamp_pulse_logged_requests_total") else { return false }
            return haproxy == logged && haproxy >= Double(2 * total)
        }
    }
}
