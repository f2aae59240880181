import Foundation
import VampModel

/// The floor for the 5xx canaries: Wald's sequential probability ratio test of the canary's error counts that knows
/// what no release can, the baseline's true rate and the canary's, at the error check's share of α (α/2). It
/// stops when `k log(q₁/q₀) + (n − k) log((1 − q₁)/(1 − q₀)) ≥ log(2/α)`, with `q₁` the canary's rate and `q₀` the
/// baseline's plus the allowance; the canary stays at the first step's weight, as a canary that looks worse does.
/// It looks as often as ours and reads the figures as late. No valid test that has to learn the rates can stop
/// sooner on average (Wald and Wolfowitz, 1948).
func simulateOracle(_ scenario: Scenario, _ random: inout SplitMix) -> Result {
    let (q1, q0) = (scenario.canaryErrors, scenario.baselineErrors + 0.01)
    let threshold = log(2 / release.falseRollbackProbability)
    let (perError, perSuccess) = (log(q1 / q0), log((1 - q1) / (1 - q0)))
    var failed = 0
    // The canary's requests and errors up to each second, read `settle` seconds late as ours are.
    var counts: [(requests: Int, errors: Int)] = [(0, 0)]
    for second in 1...limit {
        let total = random.poisson(scenario.rate)
        let toCanary = random.binomial(total, Double(steps[0]) / 100)
        let canary = scenario.second(requests: toCanary, errors: scenario.canaryErrors, shift: scenario.canaryShift, &random)
        _ = scenario.second(requests: total - toCanary, errors: scenario.baselineErrors, shift: 0, &random)
        failed += canary.errors
        counts.append((counts[second - 1].requests + canary.requests, counts[second - 1].errors + canary.errors))
        guard second % lookEvery == 0, second > settle else { continue }
        let (requests, errors) = counts[second - settle]
        guard Double(errors) * perError + Double(requests - errors) * perSuccess >= threshold else { continue }
        return Result(rolledBack: true, promoted: false, seconds: second, failed: failed)
    }
    return Result(rolledBack: false, promoted: false, seconds: limit, failed: failed)
}
