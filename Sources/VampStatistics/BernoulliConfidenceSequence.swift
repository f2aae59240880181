import Foundation

/// An always-valid confidence interval for the mean of Bernoulli observations (the share of requests that fail, or
/// that take longer than a threshold): Robbins' beta-binomial mixture.
///
/// For `n` observations with `s` successes and a Beta(a, b) mixing distribution over the mean `q`, the mixture of
/// likelihood ratios against a mean `p` is
///
///     M_n(p) = B(a + s, b + n − s) / (B(a, b) · p^s · (1 − p)^(n − s))
///
/// a nonnegative martingale with `M_0 = 1` when `p` is the true mean. By Ville's inequality,
/// `P(∃ n: M_n(p) ≥ 1/α) ≤ α`, so `{p : M_n(p) < 1/α}` holds the true mean at every `n` at once with probability at
/// least `1 − α`: however often it is looked at, and whatever rule decides when to stop looking (Robbins, "Statistical
/// methods related to the law of the iterated logarithm", 1970; Howard, Ramdas, McAuliffe, Sekhon, "Time-uniform,
/// nonparametric, nonasymptotic confidence sequences", Annals of Statistics 2021, §3). `log M_n(p)` is convex in `p`
/// with its minimum at `s / n`, so the set is an interval, whose ends are found by bisection.
public struct BernoulliConfidenceSequence: Sendable, Hashable {
    /// The mixing distribution's parameters: Beta(a, b). Beta(1/2, 1/2) (Jeffreys') by default.
    public var a: Double
    /// See ``a``.
    public var b: Double

    /// A sequence with the mixing distribution Beta(a, b).
    public init(a: Double = 0.5, b: Double = 0.5) {
        precondition(a > 0 && b > 0, "Beta parameters are positive")
        self.a = a
        self.b = b
    }

    /// `log M_n(p)` for `successes` of `trials`.
    public func logMixture(successes: Int, trials: Int, mean p: Double) -> Double {
        let s = Double(successes), f = Double(trials - successes)
        let logLikelihood = (s > 0 ? s * Foundation.log(p) : 0) + (f > 0 ? f * Foundation.log1p(-p) : 0)
        return SpecialFunctions.logBeta(a + s, b + f) - SpecialFunctions.logBeta(a, b) - logLikelihood
    }

    /// The interval `{p : M_n(p) < 1/α}`: it holds the true mean at every number of trials at once with probability
    /// at least `1 − α`. Each end alone is a one-sided bound at level `1 − α` (conservatively).
    public func interval(successes: Int, trials: Int, alpha: Double) -> ClosedRange<Double> {
        precondition(successes >= 0 && trials >= successes && alpha > 0 && alpha < 1)
        guard trials > 0 else { return 0...1 }
        let threshold = Foundation.log(1 / alpha)
        let estimate = Double(successes) / Double(trials)
        func excess(_ p: Double) -> Double { logMixture(successes: successes, trials: trials, mean: p) - threshold }
        // log M is +∞ at 0 (when s > 0) and at 1 (when s < n), below the threshold at the estimate.
        let lower = successes == 0 ? 0 : Self.root(excess, from: 0, to: estimate, decreasing: true)
        let upper = successes == trials ? 1 : Self.root(excess, from: estimate, to: 1, decreasing: false)
        return lower...upper
    }

    /// The end of the interval on `[from, to]` where `excess` crosses zero, rounded outwards (so the interval never
    /// shrinks below the exact one).
    static func root(_ excess: (Double) -> Double, from: Double, to: Double, decreasing: Bool) -> Double {
        var (low, high) = (from, to)
        for _ in 0..<80 {
            let middle = (low + high) / 2
            // `inside`: the middle is in the interval (below the threshold).
            let inside = excess(middle) < 0
            if decreasing {
                if inside { high = middle } else { low = middle }
            } else {
                if inside { low = middle } else { high = middle }
            }
            if high - low < 1e-12 { break }
        }
        return decreasing ? low : high
    }
}
