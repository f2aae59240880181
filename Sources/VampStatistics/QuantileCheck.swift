import Foundation

/// The response-time check: is the canary's quantile (p99) above the baseline's by more than the allowance, or
/// above a ceiling?
///
/// Always-valid bounds of each route's quantile from its order statistics (S. Howard and A. Ramdas, "Sequential
/// estimation of quantiles with applications to A/B-testing and best-arm identification", *Bernoulli* 28, 2022, §2):
/// with `Q = inf{x : F(x) ≥ q}`, a response is slower than `Q` with probability at most `1 − q` and at least `Q`
/// with probability at least `1 − q`, whatever the distribution. So the number of a route's `n` responses slower
/// than `Q` is (at most) a Binomial(n, 1 − q) count, and a single ``BetaBinomialMixture`` test of the share `1 − q`
/// bounds the quantile at every `n` at once:
///
/// - the baseline's `Q_A` is at most `U_A`, its `(r + 1)`-th slowest response, where `r` is the largest count of
///   slow responses whose evidence (``BetaBinomialMixture/rare``) against `1 − q` reaches `1/(α/2)`;
/// - the canary's `Q_B` is at least `L_B`, its `r′`-th slowest response, where `r′` is the smallest count whose
///   evidence (``BetaBinomialMixture/elevated``) reaches `1/(α/2)`.
///
/// If `U_A` were below `Q_A`, at most `r` responses would be at least `Q_A`: a count that rejects the true share;
/// likewise for `L_B`. Each happens at some look with probability at most `α/2` (Ville's inequality), so both bounds
/// hold throughout the release with probability at least `1 − α`, and the check fails when `L_B > U_A + δ`
/// (absolute), `L_B > m · U_A` (relative) or `L_B > c` (ceiling): a canary within its allowance and ceiling is failed
/// with probability at most `α`. Ties (response times in whole milliseconds) only make the bounds conservative.
/// Assumes each route's response times are independent draws from a distribution that does not change during the
/// release.
public struct QuantileCheck: Sendable, Hashable {
    /// The quantile compared, `0.99` for p99.
    public var quantile: Double
    /// How much slower the canary may be (milliseconds, or a ratio).
    public var allowance: Allowance
    /// A response time (ms) the canary's quantile may not exceed, whatever the baseline's.
    public var ceiling: Double?
    /// The probability of failing a canary that is within its allowance, over the whole release.
    public var alpha: Double
    /// The mixing distribution of the test that bounds a quantile from above (few responses slower than it).
    public var upperMixture: BetaBinomialMixture
    /// The mixing distribution of the test that bounds a quantile from below (many responses slower than it).
    public var lowerMixture: BetaBinomialMixture

    /// A check of `quantile` with an allowance, an optional ceiling and its error probability.
    public init(
        quantile: Double, allowance: Allowance, ceiling: Double? = nil, alpha: Double, upperMixture: BetaBinomialMixture = .rare,
        lowerMixture: BetaBinomialMixture = .elevated
    ) {
        precondition(quantile > 0 && quantile < 1)
        self.quantile = quantile
        self.allowance = allowance
        self.ceiling = ceiling
        self.alpha = alpha
        self.upperMixture = upperMixture
        self.lowerMixture = lowerMixture
    }

    /// A value the route's quantile is at most, at level `alpha` (`nil`: not enough responses yet).
    public func upperBound(_ times: ResponseTimes, alpha: Double) -> Double? {
        let total = times.total
        guard total > 0, let slow = upperMixture.rejectionRegion(trials: total, share: 1 - quantile, alpha: alpha).low else { return nil }
        return Self.slowest(slow + 1, of: times)
    }

    /// A value the route's quantile is at least, at level `alpha` (`nil`: not enough evidence yet).
    public func lowerBound(_ times: ResponseTimes, alpha: Double) -> Double? {
        let total = times.total
        guard total > 0, let slow = lowerMixture.rejectionRegion(trials: total, share: 1 - quantile, alpha: alpha).high else { return nil }
        return Self.slowest(slow, of: times)
    }

    /// The `rank`-th slowest value (1: the slowest), `nil` when there are fewer values.
    static func slowest(_ rank: Int, of times: ResponseTimes) -> Double? {
        guard rank >= 1 else { return nil }
        var seen = 0
        for entry in times.counts.filter({ $0.count > 0 }).sorted(by: { $0.value > $1.value }) {
            seen += entry.count
            if seen >= rank { return entry.value }
        }
        return nil
    }

    /// Judges both routes' response times over the same time.
    public func judge(baseline: ResponseTimes, canary: ResponseTimes) -> CheckJudgement {
        var judgement = evaluate(baseline: baseline, canary: canary)
        if let observed = judgement.canary, let reference = judgement.baseline {
            let withinCeiling = ceiling.map { observed <= $0 } ?? true
            switch allowance {
            case .absolute(let delta): judgement.looksWithin = withinCeiling && observed - reference <= delta
            case .relative(let ratio): judgement.looksWithin = withinCeiling && observed <= ratio * reference
            }
        }
        return judgement
    }

    private func evaluate(baseline: ResponseTimes, canary: ResponseTimes) -> CheckJudgement {
        let level = alpha / 2
        let baselineBound = upperBound(baseline, alpha: level)
        let canaryBound = lowerBound(canary, alpha: level)
        // The canary's quantile is bounded from above: enough of its requests to judge it at all.
        let judged = baseline.total > 0 && upperBound(canary, alpha: level) != nil
        let name = "p\(Self.percentile(quantile))"
        let observed = (canary.quantile(quantile), baseline.quantile(quantile))
        func ms(_ value: Double?) -> String { value.map { String(format: "%g ms", $0) } ?? "unknown" }
        let intro = "\(name): canary \(ms(observed.0)) (at least \(ms(canaryBound)), \(canary.total) requests), baseline \(ms(observed.1)) (at most \(ms(baselineBound)), \(baseline.total) requests)"
        if let ceiling, let canaryBound, canaryBound > ceiling {
            return CheckJudgement(
                failed: true, canary: observed.0, baseline: observed.1, statistic: canaryBound, threshold: ceiling,
                explanation: "\(intro): above the ceiling of \(ms(ceiling))", judged: true, measure: .ceiling)
        }
        guard let canaryBound, let baselineBound else {
            return CheckJudgement(
                failed: false, canary: observed.0, baseline: observed.1, statistic: nil, threshold: Self.threshold(allowance),
                explanation: "\(intro): not enough requests to bound both", judged: judged, measure: Self.measure(allowance))
        }
        switch allowance {
        case .absolute(let delta):
            let excess = canaryBound - baselineBound
            let failed = excess > delta
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: delta,
                explanation: "\(intro): slower by at least \(ms(excess)), \(failed ? "beyond" : "within") the allowed \(ms(delta))",
                judged: judged || failed, measure: .difference)
        case .relative(let ratio):
            let excess = canaryBound / baselineBound
            let failed = excess > ratio
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: ratio,
                explanation: "\(intro): at least \(String(format: "%.2f", excess)) times the baseline's, \(failed ? "beyond" : "within") the allowed \(String(format: "%.2f", ratio))",
                judged: judged || failed, measure: .ratio)
        }
    }

    static func measure(_ allowance: Allowance) -> CheckJudgement.Measure {
        switch allowance {
        case .absolute: .difference
        case .relative: .ratio
        }
    }

    static func threshold(_ allowance: Allowance) -> Double {
        switch allowance {
        case .absolute(let value), .relative(let value): value
        }
    }

    static func percentile(_ quantile: Double) -> String {
        let value = quantile * 100
        return value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }
}
