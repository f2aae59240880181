import Foundation

/// The evidence of Bernoulli observations (a request failed or not; was slower than a threshold or not) against a
/// share `s₀` of "bad" outcomes: a likelihood ratio averaged over a Beta(a, b) mixing distribution of the share.
///
/// With `k` bad outcomes in `n`,
///
///     E_n(s₀) = B(a + k, b + n − k) / (B(a, b) · s₀^k · (1 − s₀)^(n − k))
///
/// is a nonnegative martingale with `E_0 = 1` when `s₀` is the true share (the numerator is the mixture's
/// probability of the sequence, the denominator the null's), so by Ville's inequality `P(∃ n: E_n(s₀) ≥ 1/α) ≤ α`:
/// it may be looked at after every observation and the first look past `1/α` rejects `s₀` with an error probability
/// of at most `α` (H. Robbins, 1970; the one-parameter case of the mixture tests of Johari et al., KDD 2017, and of
/// Lindon and Malek, NeurIPS 2022). The mixing distribution changes how fast it grows under an alternative, never its
/// validity.
///
/// `log E_n` is strictly convex in `k`, so the counts that reject are the two ends of `0…n` (``rejectionRegion(trials:share:alpha:)``).
public struct BetaBinomialMixture: Sendable, Hashable {
    /// The mixing distribution's parameters: Beta(a, b) over the share of bad outcomes.
    public var a: Double
    /// See ``a``.
    public var b: Double

    /// The mixing distribution Beta(a, b).
    public init(a: Double, b: Double) {
        precondition(a > 0 && b > 0, "Beta parameters are positive")
        self.a = a
        self.b = b
    }

    /// Beta(1/2, 20): most of its weight below a few percent, as a healthy route's share of failed (or slow)
    /// requests; Jeffreys' shape near zero. For a baseline's rate, and for evidence that a share is small.
    public static let rare = BetaBinomialMixture(a: 0.5, b: 20)
    /// Beta(1, 10): shares of a few percent to tens of percent, as a bad canary's. For evidence that a share is large.
    public static let elevated = BetaBinomialMixture(a: 1, b: 10)

    /// `log B(a + k, b + n − k) / B(a, b)`: the log-probability of one sequence with `bad` of `trials` bad, under the
    /// mixture.
    public func logMarginal(bad: Int, of trials: Int) -> Double {
        precondition(bad >= 0 && trials >= bad)
        return SpecialFunctions.logBeta(a + Double(bad), b + Double(trials - bad)) - SpecialFunctions.logBeta(a, b)
    }

    /// `log E_n(s₀)` for `bad` of `trials`.
    public func logEvidence(bad: Int, of trials: Int, against share: Double) -> Double {
        logMarginal(bad: bad, of: trials) - Self.logLikelihood(bad: bad, of: trials, share: share)
    }

    /// `log(s^k (1 − s)^(n − k))`, with `0 · log 0 = 0` (`−∞` for a sequence the share cannot produce).
    public static func logLikelihood(bad: Int, of trials: Int, share: Double) -> Double {
        let (k, f) = (Double(bad), Double(trials - bad))
        return (k > 0 ? k * Foundation.log(share) : 0) + (f > 0 ? f * Foundation.log1p(-share) : 0)
    }

    /// The counts of bad outcomes among `trials` at which the evidence against `share` reaches `1/α`: every count at
    /// or below `low`, and every count at or above `high` (`nil`: no count that low, or that high, reaches it).
    ///
    /// Because every count beyond an end also rejects, a count that is only known to be at least (or at most) an
    /// observed one may be judged by the observed one: the quantile bounds rest on this.
    public func rejectionRegion(trials: Int, share: Double, alpha: Double) -> (low: Int?, high: Int?) {
        precondition(trials >= 0 && share > 0 && share < 1 && alpha > 0 && alpha < 1)
        let threshold = Foundation.log(1 / alpha)
        func evidence(_ k: Int) -> Double { logEvidence(bad: k, of: trials, against: share) }
        // The minimum of the convex function: the first k whose step up is not negative.
        var (lowIndex, highIndex) = (0, trials)
        while lowIndex < highIndex {
            let middle = (lowIndex + highIndex) / 2
            if evidence(middle + 1) - evidence(middle) >= 0 { highIndex = middle } else { lowIndex = middle + 1 }
        }
        let minimum = lowIndex
        if evidence(minimum) >= threshold { return (minimum, minimum) }
        // Below the minimum the evidence falls with k: the last k that still reaches the threshold.
        var low: Int?
        if evidence(0) >= threshold {
            var (from, to) = (0, minimum)  // evidence(from) ≥ threshold > evidence(to)
            while to - from > 1 {
                let middle = (from + to) / 2
                if evidence(middle) >= threshold { from = middle } else { to = middle }
            }
            low = from
        }
        var high: Int?
        if evidence(trials) >= threshold {
            var (from, to) = (minimum, trials)  // evidence(from) < threshold ≤ evidence(to)
            while to - from > 1 {
                let middle = (from + to) / 2
                if evidence(middle) >= threshold { to = middle } else { from = middle }
            }
            high = to
        }
        return (low, high)
    }
}

/// The few special functions the sequences need.
enum SpecialFunctions {
    /// `log B(x, y) = log Γ(x) + log Γ(y) − log Γ(x + y)`.
    static func logBeta(_ x: Double, _ y: Double) -> Double {
        Foundation.lgamma(x) + Foundation.lgamma(y) - Foundation.lgamma(x + y)
    }
}
