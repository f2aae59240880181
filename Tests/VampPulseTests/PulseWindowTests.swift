import Foundation
import Testing
import VampPulse
import VampTesting

@Suite struct PulseWindowTests {
    static func record(_ frontend: String, _ time: Int, status: Int = 200, server: String = "s") -> LogRecord {
        LogRecord(key: PulseKey(frontend: frontend, backend: "b", server: server), totalTime: time, serverTime: time, status: status, bytes: 10)
    }

    @Test func aggregatesBySecondAndKey() {
        var aggregator = PulseAggregator(agent: "a")
        aggregator.record(Self.record("g", 5), at: 100)
        aggregator.record(Self.record("g", 7, status: 500), at: 100)
        aggregator.record(line: "garbage", at: 100)
        aggregator.record(Self.record("g", 9), at: 101)
        #expect(aggregator.close(before: 100).isEmpty)
        let closed = aggregator.close(before: 101)
        #expect(closed.count == 1)
        #expect(closed[0].second == 100)
        #expect(closed[0].requests == 2)
        #expect(closed[0].unparsed == 1)
        #expect(closed[0].entries[0].figures.serverErrors == 1)
        #expect(aggregator.close(before: 102).map(\.second) == [101])
    }

    /// After the clock went back, lines go to a second not handed over yet, and figures keep flowing.
    @Test func aClockThatGoesBackNeverReopensASecond() {
        var aggregator = PulseAggregator(agent: "a")
        aggregator.record(Self.record("g", 1), at: 100)
        #expect(aggregator.close(before: 101).map(\.second) == [100])
        aggregator.record(Self.record("g", 1), at: 40)
        #expect(aggregator.close(before: 41).map(\.second) == [101])
        aggregator.record(Self.record("g", 1), at: 41)
        #expect(aggregator.close(before: 42).map(\.second) == [102])
    }

    /// Two agents' buckets merge into exactly the figures of all their requests: counts and every percentile.
    @Test func mergesAgentsExactly() {
        var random = SeededRandom(seed: 7)
        var a = PulseAggregator(agent: "a")
        var b = PulseAggregator(agent: "b")
        var everything = PulseFigures()
        for second in Int64(1000)..<1010 {
            for _ in 0..<200 {
                let record = Self.record("g", random.below(2000), status: random.below(10) == 0 ? 503 : 200)
                everything.record(record)
                if random.below(3) == 0 { a.record(record, at: second) } else { b.record(record, at: second) }
            }
        }
        var window = PulseWindow()
        for bucket in a.close(before: 1010) + b.close(before: 1010) { #expect(window.insert(bucket, now: 1010) == .accepted) }
        let merged = window.figures(1000...1010) { $0.frontend == "g" }
        #expect(merged == everything)
        #expect(merged.totalTime.percentile(99) == everything.totalTime.percentile(99))
        // Sent again (a retry): replaced, not counted twice.
        var again = PulseAggregator(agent: "a")
        again.record(Self.record("g", 1), at: 1005)
        let resent = again.close(before: 1006)[0]
        #expect(window.insert(resent, now: 1010) == .replaced)
        #expect(window.figures(1000...1010) { _ in true }.requests < everything.requests)
    }

    @Test func refusesBucketsFarFromTheClockAndCountsThem() {
        var window = PulseWindow()
        let bucket = PulseBucket(agent: "a", second: 5000, entries: [.init(key: PulseKey(frontend: "g", backend: "b", server: "s"), figures: {
            var figures = PulseFigures()
            figures.record(Self.record("g", 1))
            return figures
        }())])
        #expect(window.insert(bucket, now: 1000) == .ahead)
        #expect(window.insert(bucket, now: 9000) == .tooOld)
        #expect(window.counters.refused == 2)
        #expect(window.counters.refusedRequests == 2)
        #expect(window.figures(0...10000) { _ in true }.requests == 0)
    }

    /// Older seconds are merged into coarse slots, and nothing is lost until the retention ends.
    @Test func compactsWithoutLosingAndForgetsPastTheRetention() {
        var window = PulseWindow(configuration: .init(retention: 120, fineSpan: 20, coarseSlot: 10))
        var sent: UInt64 = 0
        for second in Int64(0)..<100 {
            var aggregator = PulseAggregator(agent: "a")
            for _ in 0..<3 { aggregator.record(Self.record("g", Int(second)), at: second); sent += 1 }
            for bucket in aggregator.close(before: second + 1) { window.insert(bucket, now: second + 1) }
        }
        window.compact(now: 100)
        #expect(window.figures(0...100) { _ in true }.requests == sent)
        window.compact(now: 200)
        #expect(window.figures(0...200) { _ in true }.requests == 3 * 20)
    }

    @Test func histogramsTravelAsPairsAndComeBackEqual() throws {
        var figures = PulseFigures()
        for time in [0, 1, 1, 255, 256, 1000, 59_999, 4_000_000] { figures.record(Self.record("g", time)) }
        let data = try JSONEncoder().encode(figures)
        let decoded = try JSONDecoder().decode(PulseFigures.self, from: data)
        #expect(decoded == figures)
        #expect(decoded.totalTime.percentile(100) == Double(LatencyHistogram.highest))
        #expect(String(decoding: data, as: UTF8.self).contains("[255,1]"))
    }

    @Test func summarisesRatesErrorsAndPercentiles() {
        var figures = PulseFigures()
        for time in 1...100 { figures.record(Self.record("g", time, status: time % 10 == 0 ? 500 : 200)) }
        let summary = PulseSummary(figures, window: 10)
        #expect(summary.rate == 10)
        #expect(summary.errorRate == 0.1)
        #expect(summary.responseTime?.p50 == 50)
        #expect(summary.responseTime?.p99 == 99)
        #expect(summary.statuses["5xx"] == 10)
    }
}
