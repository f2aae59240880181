import Foundation
import VampStatistics

/// Simulated traffic for the checks' tests: seeded, so every run sees the same.
enum Traffic {
    /// `Binomial(n, p)` by counting (n is small here).
    static func binomial(_ n: Int, _ p: Double, _ random: inout SeededRandom) -> Int {
        (0..<n).reduce(0) { count, _ in count + (Double.random(in: 0..<1, using: &random) < p ? 1 : 0) }
    }

    /// Seconds until the check fails over `seconds` of traffic (`nil`: never), `perSecond` requests split by `share`,
    /// judged every second.
    static func secondsToFail(
        _ check: ErrorRateCheck, baselineRate: Double, canaryRate: Double, perSecond: Int, share: Double, seconds: Int, _ random: inout SeededRandom
    ) -> Int? {
        secondsToFail(check, baselineRate: baselineRate, canaryRate: canaryRate, perSecond: perSecond, shares: { _ in share }, seconds: seconds, &random)
    }

    /// The same with the canary's share of the traffic changing with the second (a release's steps).
    static func secondsToFail(
        _ check: ErrorRateCheck, baselineRate: Double, canaryRate: Double, perSecond: Int, shares: (Int) -> Double, seconds: Int,
        _ random: inout SeededRandom
    ) -> Int? {
        var (baseline, canary) = (ErrorCounts(requests: 0, errors: 0), ErrorCounts(requests: 0, errors: 0))
        for second in 1...seconds {
            let toCanary = binomial(perSecond, shares(second), &random)
            canary.requests += toCanary
            canary.errors += binomial(toCanary, canaryRate, &random)
            baseline.requests += perSecond - toCanary
            baseline.errors += binomial(perSecond - toCanary, baselineRate, &random)
            if check.judge(baseline: baseline, canary: canary).failed { return second }
        }
        return nil
    }

    /// Log-normal response times around `median` ms (σ 0.5), `shift` ms added to each, in whole milliseconds.
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
}
