import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// How fast an abort takes the canary out of HAProxy (Documentation/performance.md, `Scripts/bench-release`): a
/// release at 50% is aborted, and requests through the gateway (one new connection each, back to back) show when the
/// canary stops answering; beside the same change made by a user's `PUT` of the gateway's weights (the baseline, the
/// same gateway write without the release), in the same run. Runs only when `VAMP_BENCH_RELEASE` is set.
@Suite("Benchmarks: a release's abort until HAProxy serves it", .serialized, .enabled(if: ProcessInfo.processInfo.environment["VAMP_BENCH_RELEASE"] != nil))
struct ReleaseBenchmarkTests {
    static var runs: Int { Int(ProcessInfo.processInfo.environment["VAMP_BENCH_RELEASE_RUNS"] ?? "") ?? 30 }
    /// A folder with other `vamp-server` and `sava` binaries (a release build), else the test build's.
    static var binaries: URL { ProcessInfo.processInfo.environment["VAMP_BENCH_RELEASE_BINARIES"].map { URL(fileURLWithPath: $0) } ?? CanaryReleaseTests.bin }

    let client = HTTPClient.shared

    @Test("abort at 50%: the answer, and the canary's last request through HAProxy, p50/p99, beside a PUT of the weights")
    func abort() async throws {
        let server = try await VampServerFixture(binaries: Self.binaries)
        defer { server.tearDown() }
        let port = try await ReleaseEndToEndTests.deploy(client, server)
        var answers: [Double] = [], aborts: [Double] = [], puts: [Double] = [], putAnswers: [Double] = []
        for round in 0..<Self.runs {
            let name = "abort-\(round)"
            let (created, body) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases", yaml: ReleaseEndToEndTests.release(name, """
                steps: [50%, 100%]
                step: {minimum_duration: 10m}
                """))
            #expect(created == 201, "\(body)")
            try await servesCanary(port)
            let start = ContinuousClock.now
            let (status, _) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/releases/\(name)/abort")
            answers.append(Self.ms(ContinuousClock.now - start))
            #expect(status == 200)
            aborts.append(try await lastCanary(port, since: start))
            #expect(try await CanaryReleaseTests.call(client, .DELETE, "\(server.api)/releases/\(name)").0 == 204)
        }
        for _ in 0..<Self.runs {
            #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: CanaryReleaseTests.split(50, 50, port: port)).0 == 202)
            try await servesCanary(port)
            let start = ContinuousClock.now
            #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/gateways/sava/web/web", yaml: CanaryReleaseTests.split(100, 0, port: port)).0 == 202)
            putAnswers.append(Self.ms(ContinuousClock.now - start))
            puts.append(try await lastCanary(port, since: start))
        }
        func line(_ values: [Double]) -> String { "p50 \(Self.format(Self.percentile(values, 0.5))) p99 \(Self.format(Self.percentile(values, 0.99))) max \(Self.format(values.max() ?? 0))" }
        print("bench-release: \(Self.runs) rounds each; the canary at 50% before each")
        print("bench-release: abort (POST /releases/{r}/abort), its answer: \(line(answers))")
        print("bench-release: abort until HAProxy sends the canary nothing: \(line(aborts))")
        print("bench-release: baseline, PUT of the gateway's weights to 100/0, its answer: \(line(putAnswers))")
        print("bench-release: baseline, PUT until HAProxy sends the canary nothing: \(line(puts))")
        #expect(Self.percentile(aborts, 0.99) < 200, "goal: the canary out of HAProxy within 200 ms of the abort (p99)")
    }

    /// Waits until a request through the gateway reaches the canary.
    func servesCanary(_ port: Int) async throws {
        try await CanaryReleaseTests.eventually("HAProxy sends the canary requests", timeout: .seconds(10)) {
            try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/").1 == "sava:1.1"
        }
    }

    /// Requests back to back from `start` on; the time (ms after `start`) at which the run of 40 answers in a row from
    /// the baseline began, which ends the measurement: the canary's last request was sent before it.
    func lastCanary(_ port: Int, since start: ContinuousClock.Instant) async throws -> Double {
        var runStart: ContinuousClock.Instant?, run = 0
        while run < 40 {
            let sent = ContinuousClock.now
            let (status, body) = try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/")
            #expect(status == 200, "no request fails while the weights change")
            if body == "sava:1.1" {
                run = 0
                runStart = nil
            } else {
                if run == 0 { runStart = sent }
                run += 1
            }
            if ContinuousClock.now - start > .seconds(10) { throw FixtureError("the canary still answers 10 s after the change") }
        }
        return Self.ms(runStart! - start)
    }

    static func ms(_ duration: Duration) -> Double { Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15 }
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
    }
    static func format(_ value: Double) -> String { String(format: "%.0f ms", value) }
}
