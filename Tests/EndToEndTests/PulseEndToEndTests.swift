import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

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

    /// One HTTP/1.0 request on a new connection with blocking sockets, timed from `connect` to the end of the answer:
    /// the client's own measurement, without an HTTP library's scheduling in it (the tests run a debug build).
    static func request(port: Int, delay: Int, status: Int) throws -> Seen {
        let start = ContinuousClock.now
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError("socket: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw FixtureError("connect to \(port): errno \(errno)") }
        let request = Array("GET /?delay=\(delay)&status=\(status) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else { throw FixtureError("send: errno \(errno)") }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        let elapsed = ContinuousClock.now - start
        let text = String(decoding: answer, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, let code = Int(statusLine[1]), let bodyStart = text.range(of: "\r\n\r\n") else {
            throw FixtureError("not an HTTP answer: \(text.prefix(200))")
        }
        return Seen(
            version: String(text[bodyStart.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines), status: code,
            milliseconds: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    /// `requests` on `threads` threads of their own (blocking sockets never on the cooperative pool).
    static func traffic(port: Int, total: Int, threads: Int, delay: @escaping @Sendable (Int) -> Int, status: @escaping @Sendable (Int) -> Int) async throws -> [Seen] {
        final class Results: Sendable { let seen = Mutex<[Result<Seen, any Error>]>([]) }
        let results = Results()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<threads {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread {
                            for index in stride(from: worker, to: total, by: threads) {
                                let result = Result { try Self.request(port: port, delay: delay(index), status: status(index)) }
                                results.seen.withLock { $0.append(result) }
                            }
                            done.resume()
                        }.start()
                    }
                }
            }
        }
        return try results.seen.withLock { $0 }.map { try $0.get() }
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

    @Test("an 80/20 split under known traffic: counts per route exact, the 5xx share, p50/p99 within 15% or 2 ms of the client's, HAProxy's counters equal")
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
        // The figures of the requests before the measured traffic, once they have all arrived (two equal reads 1.5 s
        // apart: an agent hands a second over within two).
        var before: [String: Any] = [:]
        try await E2E.eventually("the figures before the traffic settle") {
            let first = try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/web/web?window=600s").1
            try await Task.sleep(for: .milliseconds(1500))
            let second = try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/web/web?window=600s").1
            before = Self.json(second)
            return first == second
        }
        let beforeRequests = (before["figures"] as? [String: Any])?["requests"] as? Int ?? 0

        let countersBefore = try await Self.counters(client, server)

        // 600 requests, 4 at a time: delays 0-40 ms by a fixed pattern, every tenth a 503.
        let delays = [0, 1, 2, 5, 10, 20, 40]
        let total = 600
        let seen = try await Self.traffic(
            port: port, total: total, threads: 4, delay: { delays[$0 % delays.count] }, status: { $0 % 10 == 3 ? 503 : 200 })
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
        let waited: Duration
        do {
            waited = try await E2E.eventually("the server's figures count all \(total) requests after \(beforeRequests)", timeout: .seconds(15)) {
            figures = Self.json(try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/web/web?window=600s").1)
                return (figures["figures"] as? [String: Any])?["requests"] as? Int == beforeRequests + total
            }
        } catch {
            let (_, external) = try await E2E.call(client, .GET, "\(server.api)/metrics/gateways/sava/\(port)?window=600s")
            Issue.record("\(error)\ncluster gateway: \(figures)\nexternal gateway: \(external)\nclient: \(byVersion)")
            throw error
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
            // HAProxy's times are whole milliseconds, cut down: a reported 7 is 7.0-7.99 ms, read here as its middle.
            let reported = try #require(times[name]) + 0.5
            print("e2e pulse: \(name) client \(clientSide) ms, gateway \(reported) ms")
            // The client's clock also holds its own side of each request (its HTTP stack, the scheduler), which grows
            // when the machine is busy: 15% or 2 ms. A wrong percentile (p50 for p99, a mean) is off by far more.
            #expect(abs(reported - clientSide) <= max(2, clientSide * 0.15), "\(name): gateway \(reported) ms, client \(clientSide) ms")
        }

        // HAProxy's own counters and the lines the agent read grew alike over the traffic: four lines a request (the
        // public gateway, its route, the cluster gateway, its route), every one of them read.
        let expected = Double(4 * total)
        let grown = Mutex((haproxy: 0.0, logged: 0.0))
        do {
            try await E2E.eventually("HAProxy's count and the lines counted grew by \(expected)", timeout: .seconds(15)) {
                let now = try await Self.counters(client, server)
                grown.withLock { $0 = (now.haproxy - countersBefore.haproxy, now.logged - countersBefore.logged) }
                return now.haproxy - countersBefore.haproxy == expected && now.logged - countersBefore.logged == expected
            }
        } catch {
            Issue.record("\(error): HAProxy counted \(grown.withLock { $0.haproxy }), the agent read \(grown.withLock { $0.logged }) lines")
        }
    }

    /// `vamp_pulse_haproxy_requests_total` and `vamp_pulse_logged_requests_total` of the server's `/metrics`.
    static func counters(_ client: HTTPClient, _ server: VampServerFixture) async throws -> (haproxy: Double, logged: Double) {
        let (_, text) = try await E2E.call(client, .GET, "http://127.0.0.1:\(server.apiPort)/metrics")
        return (sample(text, "vamp_pulse_haproxy_requests_total") ?? -1, sample(text, "vamp_pulse_logged_requests_total") ?? -1)
    }
}
