import Foundation
import Testing
import VampStatistics

/// The response-time check: bounds of a quantile from order statistics, by hand and by simulation, and a slower
/// canary failed soon.
@Suite("Quantile check")
struct QuantileCheckTests {
    static let values = Traffic.histogram([1, 2, 3, 4, 5, 6])

    @Test("bounds are order statistics at the ends of the mixture's rejection region, by hand")
    func smallCases() {
        // The median of 1…6 with Beta(1, 1) mixtures: at α = 0.7 the region is k ≤ 1 or k ≥ 5 slower responses
        // (BetaBinomialMixtureTests), so the median is at most the 2nd slowest (5) and at least the 5th slowest (2).
        let uniform = BetaBinomialMixture(a: 1, b: 1)
        let check = QuantileCheck(quantile: 0.5, allowance: .absolute(0), alpha: 0.01, upperMixture: uniform, lowerMixture: uniform)
        #expect(check.upperBound(Self.values, alpha: 0.7) == 5)
        #expect(check.lowerBound(Self.values, alpha: 0.7) == 2)
        // At α = 0.25 only k = 0 or 6 rejects: the slowest and the fastest.
        #expect(check.upperBound(Self.values, alpha: 0.25) == 6)
        #expect(check.lowerBound(Self.values, alpha: 0.25) == 1)
        #expect(check.upperBound(Self.values, alpha: 0.1) == nil && check.lowerBound(Self.values, alpha: 0.1) == nil)
        // Ties: counts, not distinct values.
        let tied = ResponseTimes([(value: 7, count: 3), (value: 1, count: 3)])
        #expect(check.upperBound(tied, alpha: 0.7) == 7 && check.lowerBound(tied, alpha: 0.7) == 1)
    }

    /// Time-uniform coverage: looked at after every 20 responses, the true p99 of log-normal times is outside a
    /// bound at some look in at most α of runs.
    @Test("the bounds hold the true p99 at every look in all but α of runs")
    func coverage() {
        var random = SeededRandom(seed: 31)
        let check = QuantileCheck(quantile: 0.99, allowance: .relative(1), alpha: 0.1)
        // Log-normal, median 20 ms, σ 0.5: p99 = 20 · e^(0.5 · 2.3263) = 64.0 ms; whole milliseconds round it to 64.
        let truth = 20 * exp(0.5 * 2.326_348)
        var (above, below) = (0, 0)
        for _ in 0..<100 {
            var times: [Double: Int] = [:]
            var (missedAbove, missedBelow) = (false, false)
            for _ in 1...75 {
                for value in Traffic.responseTimes(20, median: 20, shift: 0, &random) { times[value, default: 0] += 1 }
                let histogram = ResponseTimes(times.map { ($0.key, $0.value) })
                if let upper = check.upperBound(histogram, alpha: 0.05), upper < truth.rounded() { missedAbove = true }
                if let lower = check.lowerBound(histogram, alpha: 0.05), lower > truth.rounded() { missedBelow = true }
            }
            above += missedAbove ? 1 : 0
            below += missedBelow ? 1 : 0
        }
        #expect(above <= 5 && below <= 5, "upper bound below the p99 in \(above), lower bound above it in \(below) of 100 runs")
    }

    @Test("p99: a canary as fast as its baseline is not failed; one 50 ms slower is, within 30 s at 10 requests/s")
    func detection() throws {
        var random = SeededRandom(seed: 29)
        let check = QuantileCheck(quantile: 0.99, allowance: .relative(1.2), alpha: 0.01)
        var falseFailures = 0
        var detected: [Int] = []
        for run in 0..<40 {
            let shift = run < 20 ? 0.0 : 50
            var (baseline, canary): ([Double], [Double]) = ([], [])
            for second in 1...120 {
                baseline += Traffic.responseTimes(30, median: 10, shift: 0, &random)
                canary += Traffic.responseTimes(10, median: 10, shift: shift, &random)
                guard second % 5 == 0 else { continue }
                if check.judge(baseline: Traffic.histogram(baseline), canary: Traffic.histogram(canary)).failed {
                    if shift == 0 { falseFailures += 1 } else { detected.append(second) }
                    break
                }
            }
        }
        #expect(falseFailures == 0)
        #expect(detected.count == 20)
        #expect(detected.sorted()[10] <= 30, "median \(detected.sorted()[10]) s")
        let judgement = check.judge(
            baseline: Traffic.histogram(Traffic.responseTimes(3000, median: 10, shift: 0, &random)),
            canary: Traffic.histogram(Traffic.responseTimes(1000, median: 10, shift: 50, &random)))
        #expect(judgement.failed && !judgement.looksWithin)
        #expect(judgement.explanation.hasPrefix("p99: canary"), "\(judgement.explanation)")
        #expect(try #require(judgement.canary) > 60 && judgement.baseline! < 50)
        #expect(try #require(judgement.statistic) > 1.2 && judgement.threshold == 1.2 && judgement.measure == .ratio)
        let empty = check.judge(baseline: ResponseTimes([]), canary: ResponseTimes([]))
        #expect(!empty.failed && !empty.judged && empty.statistic == nil && empty.explanation.contains("not enough requests"))
    }

    @Test("an absolute allowance and a ceiling")
    func absoluteAndCeiling() {
        var random = SeededRandom(seed: 30)
        let baseline = Traffic.histogram(Traffic.responseTimes(3000, median: 10, shift: 0, &random))
        let canary = Traffic.histogram(Traffic.responseTimes(1000, median: 10, shift: 20, &random))
        let absolute = QuantileCheck(quantile: 0.99, allowance: .absolute(5), alpha: 0.01).judge(baseline: baseline, canary: canary)
        #expect(absolute.failed && absolute.measure == .difference && absolute.threshold == 5)
        #expect(!QuantileCheck(quantile: 0.99, allowance: .absolute(40), alpha: 0.01).judge(baseline: baseline, canary: canary).failed)
        let ceiling = QuantileCheck(quantile: 0.99, allowance: .absolute(1000), ceiling: 30, alpha: 0.01).judge(baseline: baseline, canary: canary)
        #expect(ceiling.failed && ceiling.threshold == 30 && ceiling.measure == .ceiling && ceiling.explanation.contains("ceiling of 30 ms"))
    }
}
