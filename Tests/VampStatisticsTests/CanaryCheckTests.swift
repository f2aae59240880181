import Foundation
import Testing
import VampStatistics

/// The checks as a release uses them: looked at every second while traffic comes in. A canary within its
/// allowance is failed in at most α of releases; a clearly worse one soon, with the figures that say why.
@Suite("Canary checks")
struct CanaryCheckTests {
    /// `Binomial(n, p)` by counting (n is small here).
    static func binomial(_ n: Int, _ p: Double, _ random: inout SeededRandom) -> Int {
        (0..<n).reduce(0) { count, _ in count + (Double.random(in: 0..<1, using: &random) < p ? 1 : 0) }
    }

    /// Seconds until the check fails over `seconds` of traffic (`nil`: never), `perSecond` requests split by `share`.
    static func secondsToFail(
        _ check: ErrorRateCheck, baselineRate: Double, canaryRate: Double, perSecond: Int, share: Double, seconds: Int, _ random: inout SeededRandom
    ) -> Int? {
        var (baseline, canary) = (ErrorCounts(requests: 0, errors: 0), ErrorCounts(requests: 0, errors: 0))
        for second in 1...seconds {
            let toCanary = binomial(perSecond, share, &random)
            canary.requests += toCanary
            canary.errors += binomial(toCanary, canaryRate, &random)
            baseline.requests += perSecond - toCanary
            baseline.errors += binomial(perSecond - toCanary, baselineRate, &random)
            if check.judge(baseline: baseline, canary: canary).failed { return second }
        }
        return nil
    }

    @Test("a canary as good as its baseline is failed in at most α of releases, checked every second")
    func errorRateFalseFailures() {
        var random = SeededRandom(seed: 27)
        let check = ErrorRateCheck(allowance: .absolute(0), alpha: 0.05)
        let runs = 200
        let failed = (0..<runs).filter { _ in
            Self.secondsToFail(check, baselineRate: 0.02, canaryRate: 0.02, perSecond: 40, share: 0.25, seconds: 120, &random) != nil
        }.count
        #expect(Double(failed) / Double(runs) <= 0.05, "\(failed) of \(runs)")
    }

    @Test("a canary failing 10% of requests against a baseline's 1% is failed within a minute at 25% of 40 requests/s; the figures say why")
    func errorRateDetection() throws {
        var random = SeededRandom(seed: 28)
        let check = ErrorRateCheck(allowance: .absolute(0.01), alpha: 0.01)
        let times = (0..<20).compactMap { _ in
            Self.secondsToFail(check, baselineRate: 0.01, canaryRate: 0.10, perSecond: 40, share: 0.25, seconds: 300, &random)
        }
        #expect(times.count == 20)
        #expect(times.sorted()[10] <= 60, "median \(times.sorted()[10]) s")
        let judgement = check.judge(baseline: ErrorCounts(requests: 3000, errors: 30), canary: ErrorCounts(requests: 1000, errors: 100))
        #expect(judgement.failed)
        #expect(judgement.canary == 0.1 && judgement.baseline == 0.01)
        let statistic = try #require(judgement.statistic)
        #expect(statistic > 0.01 && statistic < 0.09)
        #expect(judgement.explanation.contains("10.00%") && judgement.explanation.contains("allowed 1.00%"), "\(judgement.explanation)")
    }

    @Test("relative allowances and ceilings; no data fails nothing")
    func relativeAndCeiling() {
        let relative = ErrorRateCheck(allowance: .relative(2), alpha: 0.01)
        #expect(relative.judge(baseline: .init(requests: 10000, errors: 100), canary: .init(requests: 2000, errors: 100)).failed)
        #expect(!relative.judge(baseline: .init(requests: 10000, errors: 100), canary: .init(requests: 2000, errors: 30)).failed)
        let ceiling = ErrorRateCheck(allowance: .absolute(1), ceiling: 0.05, alpha: 0.01)
        #expect(ceiling.judge(baseline: .init(requests: 100, errors: 50), canary: .init(requests: 1000, errors: 200)).failed)
        #expect(!ceiling.judge(baseline: .init(requests: 0, errors: 0), canary: .init(requests: 0, errors: 0)).failed)
    }

    /// Log-normal response times around `median` ms (σ 0.5), `shift` ms added to each.
    static func responseTimes(_ count: Int, median: Double, shift: Double, _ random: inout SeededRandom) -> [Double] {
        (0..<count).map { _ in
            // Box–Muller.
            let (u, v) = (Double.random(in: Double.ulpOfOne..<1, using: &random), Double.random(in: 0..<1, using: &random))
            let normal = (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
            return (median * exp(0.5 * normal) + shift).rounded()
        }
    }

    static func histogram(_ values: [Double]) -> ResponseTimes {
        ResponseTimes(Dictionary(grouping: values, by: { $0 }).map { (value: $0.key, count: $0.value.count) })
    }

    @Test("p99: a canary as fast as its baseline is not failed; one 50 ms slower is, within a minute at 10 requests/s")
    func quantiles() throws {
        var random = SeededRandom(seed: 29)
        let check = QuantileCheck(quantile: 0.99, allowance: .relative(1.2), alpha: 0.01)
        var falseFailures = 0
        var detected: [Int] = []
        for run in 0..<40 {
            let shift = run < 20 ? 0.0 : 50
            var (baseline, canary): ([Double], [Double]) = ([], [])
            for second in 1...120 {
                baseline += Self.responseTimes(30, median: 10, shift: 0, &random)
                canary += Self.responseTimes(10, median: 10, shift: shift, &random)
                guard second % 5 == 0 else { continue }
                if check.judge(baseline: Self.histogram(baseline), canary: Self.histogram(canary)).failed {
                    if shift == 0 { falseFailures += 1 } else { detected.append(second) }
                    break
                }
            }
        }
        #expect(falseFailures == 0)
        #expect(detected.count == 20)
        #expect(detected.sorted()[10] <= 60, "median \(detected.sorted()[10]) s")
        let judgement = check.judge(
            baseline: Self.histogram(Self.responseTimes(3000, median: 10, shift: 0, &random)),
            canary: Self.histogram(Self.responseTimes(1000, median: 10, shift: 50, &random)))
        #expect(judgement.failed)
        #expect(judgement.explanation.hasPrefix("p99: canary"), "\(judgement.explanation)")
        #expect(try #require(judgement.canary) > 60 && judgement.baseline! < 50)
        let empty = check.judge(baseline: ResponseTimes([]), canary: ResponseTimes([]))
        #expect(!empty.failed && empty.statistic == nil && empty.explanation.contains("not enough requests"))
    }
}
