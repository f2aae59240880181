import Foundation
import Testing
import VampStatistics

/// The error-rate check as a release uses it: looked at every second while traffic comes in. A canary within its
/// allowance is failed in at most α of releases; a clearly worse one soon, with the figures that say why.
@Suite("Error-rate check")
struct ErrorRateCheckTests {
    @Test("the evidence of a tiny case, by hand: one request each, Beta(1, 1) mixtures, an allowance of half")
    func smallCase() {
        // Numerator: 1/2 · 1/2. The null's maximum of (1 − a)(a + 1/2) is at a = 1/4: 9/16. E = (1/4) / (9/16) = 4/9.
        let check = ErrorRateCheck(allowance: .absolute(0.5), alpha: 0.01, baselineMixture: .init(a: 1, b: 1), canaryMixture: .init(a: 1, b: 1))
        let evidence = check.logEvidence(baseline: .init(requests: 1, errors: 0), canary: .init(requests: 1, errors: 1))
        #expect(abs(exp(evidence) - 4.0 / 9) < 1e-9)
        // Within the allowance as observed: no evidence.
        #expect(check.logEvidence(baseline: .init(requests: 4, errors: 1), canary: .init(requests: 4, errors: 2)) == 0)
    }

    @Test("the null's maximum agrees with a search over a fine grid", arguments: [
        (ErrorCounts(requests: 5000, errors: 20), ErrorCounts(requests: 300, errors: 18), Allowance.absolute(0.01)),
        (ErrorCounts(requests: 800, errors: 0), ErrorCounts(requests: 200, errors: 9), Allowance.absolute(0.02)),
        (ErrorCounts(requests: 5000, errors: 50), ErrorCounts(requests: 500, errors: 30), Allowance.relative(2)),
        (ErrorCounts(requests: 100, errors: 3), ErrorCounts(requests: 100, errors: 40), Allowance.relative(1.5)),
    ])
    func nullMaximum(baseline: ErrorCounts, canary: ErrorCounts, allowance: Allowance) {
        let check = ErrorRateCheck(allowance: allowance, alpha: 0.01)
        let (slope, offset): (Double, Double) = switch allowance {
        case .absolute(let delta): (1, delta)
        case .relative(let ratio): (ratio, 0)
        }
        // The likelihood on the null's boundary at 20,000 points (inside the null it is lower).
        let top = min(1, (1 - offset) / slope)
        let best = (0...20_000).map { index in
            let a = top * Double(index) / 20_000
            return BetaBinomialMixture.logLikelihood(bad: baseline.errors, of: baseline.requests, share: a)
                + BetaBinomialMixture.logLikelihood(bad: canary.errors, of: canary.requests, share: min(1, slope * a + offset))
        }.max()!
        let numerator = check.baselineMixture.logMarginal(bad: baseline.errors, of: baseline.requests)
            + check.canaryMixture.logMarginal(bad: canary.errors, of: canary.requests)
        let evidence = check.logEvidence(baseline: baseline, canary: canary)
        #expect(evidence <= numerator - best + 1e-9, "the maximum found is at least the grid's")
        #expect(evidence >= numerator - best - 1e-2)
    }

    @Test("a canary on the edge of its allowance is failed in at most α of releases, checked every second",
          arguments: [(0.02, 0.02, 0.0), (0.01, 0.03, 0.02)])
    func falseFailures(baselineRate: Double, canaryRate: Double, delta: Double) {
        var random = SeededRandom(seed: 27)
        let check = ErrorRateCheck(allowance: .absolute(delta), alpha: 0.05)
        let runs = 200
        let failed = (0..<runs).filter { _ in
            Traffic.secondsToFail(check, baselineRate: baselineRate, canaryRate: canaryRate, perSecond: 40, share: 0.25, seconds: 120, &random) != nil
        }.count
        #expect(Double(failed) / Double(runs) <= 0.05, "\(failed) of \(runs)")
    }

    @Test("with the split moving through a release's steps (5%, 25%, 50%, 100%), a canary on the edge is still failed in at most α of releases")
    func falseFailuresAcrossSteps() {
        var random = SeededRandom(seed: 26)
        let check = ErrorRateCheck(allowance: .absolute(0.01), alpha: 0.05)
        let steps = [0.05, 0.25, 0.5, 1.0]
        let runs = 200
        let failed = (0..<runs).filter { _ in
            Traffic.secondsToFail(
                check, baselineRate: 0.01, canaryRate: 0.02, perSecond: 40, shares: { steps[min(($0 - 1) / 30, 3)] }, seconds: 120, &random) != nil
        }.count
        #expect(Double(failed) / Double(runs) <= 0.05, "\(failed) of \(runs)")
    }

    @Test("a canary failing 10% of requests against a baseline's 1% is failed within 30 s at 25% of 40 requests/s; the figures say why")
    func detection() throws {
        var random = SeededRandom(seed: 28)
        let check = ErrorRateCheck(allowance: .absolute(0.01), alpha: 0.01)
        let times = (0..<20).compactMap { _ in
            Traffic.secondsToFail(check, baselineRate: 0.01, canaryRate: 0.10, perSecond: 40, share: 0.25, seconds: 300, &random)
        }
        #expect(times.count == 20)
        #expect(times.sorted()[10] <= 30, "median \(times.sorted()[10]) s")
        let judgement = check.judge(baseline: ErrorCounts(requests: 3000, errors: 30), canary: ErrorCounts(requests: 1000, errors: 100))
        #expect(judgement.failed && judgement.judged && !judgement.looksWithin)
        #expect(judgement.canary == 0.1 && judgement.baseline == 0.01 && judgement.threshold == 100 && judgement.measure == .evidence)
        #expect(try #require(judgement.statistic) > 1e6)
        #expect(judgement.explanation.contains("10.00% (100/1000)") && judgement.explanation.contains("more than 1.00 percentage points above"), "\(judgement.explanation)")
    }

    @Test("relative allowances and ceilings; no data fails nothing")
    func relativeAndCeiling() throws {
        let relative = ErrorRateCheck(allowance: .relative(2), alpha: 0.01)
        #expect(relative.judge(baseline: .init(requests: 10000, errors: 100), canary: .init(requests: 2000, errors: 100)).failed)
        #expect(!relative.judge(baseline: .init(requests: 10000, errors: 100), canary: .init(requests: 2000, errors: 30)).failed)
        // A ceiling halves α: the threshold is 2/α; 20% observed against a ceiling of 5% fails whatever the baseline.
        let ceiling = ErrorRateCheck(allowance: .absolute(1), ceiling: 0.05, alpha: 0.01)
        let above = ceiling.judge(baseline: .init(requests: 100, errors: 50), canary: .init(requests: 1000, errors: 200))
        #expect(above.failed && above.threshold == 200 && above.explanation.contains("ceiling of 5.00%"))
        #expect(try #require(above.statistic) >= 200)
        #expect(!ceiling.judge(baseline: .init(requests: 100, errors: 50), canary: .init(requests: 100, errors: 7)).failed)
        let empty = ceiling.judge(baseline: .init(requests: 0, errors: 0), canary: .init(requests: 0, errors: 0))
        #expect(!empty.failed && !empty.judged)
    }
}
