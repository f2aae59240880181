import Foundation

/// The error-rate check: is the canary's share of failed requests higher than the baseline's by more than the
/// allowance (or above a ceiling)?
///
/// A sequential likelihood-ratio test of the composite null `H₀: q_B ≤ g(q_A)`, where `q_A`, `q_B` are the
/// baseline's and the canary's error rates and `g(a) = a + δ` (absolute allowance) or `g(a) = m · a` (relative):
///
///     E = [B(a_A + k_A, b_A + n_A − k_A) / B(a_A, b_A)] · [B(a_B + k_B, b_B + n_B − k_B) / B(a_B, b_B)]
///         / sup_{q_B ≤ g(q_A)} q_A^k_A (1 − q_A)^(n_A − k_A) · q_B^k_B (1 − q_B)^(n_B − k_B)
///
/// The numerator is a mixture of the two routes' likelihoods (``BetaBinomialMixture/rare`` for the baseline,
/// ``BetaBinomialMixture/elevated`` for the canary); the denominator is the likelihood maximised over the null. For
/// any `(q_A, q_B)` in the null, `E` is at most the numerator over the likelihood at that point, a nonnegative
/// martingale with mean 1, so by Ville's inequality `E` ever reaching `1/α` has probability at most `α`, however often
/// it is looked at and however the traffic is split between the routes over time (the split may depend on what was
/// seen before, not on what comes). It is a mixture sequential probability ratio test in the manner of Johari,
/// Koomen, Pekelis and Walsh ("Peeking at A/B tests", KDD 2017), with the exact Bernoulli likelihoods and Beta
/// mixtures of both rates where they use a normal approximation and a normal mixture of the difference, and with
/// the nuisance (the baseline's rate) maximised out of the denominator as in Wasserman, Ramdas and Balakrishnan's
/// universal inference (PNAS 2020). It needs no bound on the baseline's rate of its own, which is where the earlier
/// pair of confidence sequences lost most of its power.
///
/// A ceiling `c` is a second test, `H₀: q_B ≤ c`, with the canary's mixture over `c^k_B (1 − c)^(n_B − k_B)`; with a
/// ceiling, each test gets half of `α`. Assumes each route's requests fail independently at a rate that does not
/// change during the release.
public struct ErrorRateCheck: Sendable, Hashable {
    /// How much worse the canary may be.
    public var allowance: Allowance
    /// A rate the canary may not exceed, whatever the baseline's.
    public var ceiling: Double?
    /// The probability of failing a canary that is within its allowance (and ceiling), over the whole release.
    public var alpha: Double
    /// The mixing distribution over the baseline's error rate.
    public var baselineMixture: BetaBinomialMixture
    /// The mixing distribution over the canary's error rate.
    public var canaryMixture: BetaBinomialMixture

    /// A check with an allowance, an optional ceiling and its error probability.
    public init(
        allowance: Allowance, ceiling: Double? = nil, alpha: Double, baselineMixture: BetaBinomialMixture = .rare,
        canaryMixture: BetaBinomialMixture = .elevated
    ) {
        self.allowance = allowance
        self.ceiling = ceiling
        self.alpha = alpha
        self.baselineMixture = baselineMixture
        self.canaryMixture = canaryMixture
    }

    /// `log E` against the allowance: 0 or less while the observed rates are within it.
    public func logEvidence(baseline: ErrorCounts, canary: ErrorCounts) -> Double {
        guard baseline.requests > 0, canary.requests > 0 else { return 0 }
        let (slope, offset) = bounds
        guard canary.rate > slope * baseline.rate + offset else { return 0 }
        let numerator = baselineMixture.logMarginal(bad: baseline.errors, of: baseline.requests)
            + canaryMixture.logMarginal(bad: canary.errors, of: canary.requests)
        return numerator - Self.logNullMaximum(baseline: baseline, canary: canary, slope: slope, offset: offset)
    }

    /// `log E` against the ceiling (`nil` without one): 0 or less while the observed rate is below it.
    public func logEvidenceAgainstCeiling(canary: ErrorCounts) -> Double? {
        guard let ceiling else { return nil }
        guard canary.requests > 0, canary.rate > ceiling, ceiling < 1 else { return 0 }
        return canaryMixture.logEvidence(bad: canary.errors, of: canary.requests, against: max(ceiling, Double.leastNormalMagnitude))
    }

    /// Judges the counts of both routes over the same time.
    public func judge(baseline: ErrorCounts, canary: ErrorCounts) -> CheckJudgement {
        let share = ceiling == nil ? alpha : alpha / 2
        let threshold = 1 / share
        let evidence = Foundation.exp(min(logEvidence(baseline: baseline, canary: canary), 690))
        let ceilingEvidence = logEvidenceAgainstCeiling(canary: canary).map { Foundation.exp(min($0, 690)) }
        let judged = canary.requests > 0 && baseline.requests > 0
        let observed = (canary.requests > 0 ? canary.rate : nil, baseline.requests > 0 ? baseline.rate : nil)
        func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        let intro = "error rate: canary \(percent(canary.rate)) (\(canary.errors)/\(canary.requests)), baseline \(percent(baseline.rate)) (\(baseline.errors)/\(baseline.requests))"
        let odds = "a canary within it reaches \(Self.number(threshold)) with probability at most \(percent(share))"
        if let ceiling, let ceilingEvidence, ceilingEvidence >= threshold {
            return CheckJudgement(
                failed: true, canary: observed.0, baseline: observed.1, statistic: ceilingEvidence, threshold: threshold,
                explanation: "\(intro): the evidence that the canary's is above the ceiling of \(percent(ceiling)) is \(Self.number(ceilingEvidence)) (\(odds))",
                judged: true, looksWithin: false, measure: .evidence)
        }
        let failed = evidence >= threshold
        let limit = switch allowance {
        case .absolute(let delta): "more than \(String(format: "%.2f", delta * 100)) percentage points above the baseline's"
        case .relative(let ratio): "more than \(String(format: "%g", ratio)) times the baseline's"
        }
        var judgement = CheckJudgement(
            failed: failed, canary: observed.0, baseline: observed.1, statistic: evidence, threshold: threshold,
            explanation: "\(intro): the evidence that the canary's is \(limit) is \(Self.number(evidence)), \(failed ? "past" : "below") \(Self.number(threshold)) (\(odds))",
            judged: judged || failed, measure: .evidence)
        if judged {
            let withinCeiling = ceiling.map { canary.rate <= $0 } ?? true
            switch allowance {
            case .absolute(let delta):
                judgement.looksWithin = withinCeiling && canary.rate - baseline.rate <= delta
            case .relative(let ratio):
                // Or within a tenth of a point: two routes with hardly any errors are alike whatever their ratio.
                judgement.looksWithin = withinCeiling && canary.rate <= max(ratio * baseline.rate, baseline.rate + 0.001)
            }
        }
        return judgement
    }

    /// The null's boundary `q_B = slope · q_A + offset`.
    var bounds: (slope: Double, offset: Double) {
        switch allowance {
        case .absolute(let delta): (1, delta)
        case .relative(let ratio): (ratio, 0)
        }
    }

    /// The log-likelihood maximised over the null, for counts outside it: the maximum is on its boundary
    /// `q_B = slope · q_A + offset`, where the log-likelihood is concave in `q_A`; bisection on its derivative.
    static func logNullMaximum(baseline: ErrorCounts, canary: ErrorCounts, slope: Double, offset: Double) -> Double {
        let (kA, fA) = (Double(baseline.errors), Double(baseline.requests - baseline.errors))
        let (kB, fB) = (Double(canary.errors), Double(canary.requests - canary.errors))
        func value(_ a: Double) -> Double {
            BetaBinomialMixture.logLikelihood(bad: baseline.errors, of: baseline.requests, share: a)
                + BetaBinomialMixture.logLikelihood(bad: canary.errors, of: canary.requests, share: slope * a + offset)
        }
        func derivative(_ a: Double) -> Double {
            let b = slope * a + offset
            return (kA > 0 ? kA / a : 0) - (fA > 0 ? fA / (1 - a) : 0) + slope * ((kB > 0 ? kB / b : 0) - (fB > 0 ? fB / (1 - b) : 0))
        }
        // q_A in (0, top): both rates below 1.
        let top = min(1, (1 - offset) / slope)
        var (low, high) = (0.0, top)
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if derivative(middle) > 0 { low = middle } else { high = middle }
            if high - low < 1e-15 * max(1, high) { break }
        }
        // The ends too: at q_A = 0 with no baseline errors (and an absolute allowance) the maximum may be there.
        return [value((low + high) / 2), value(0), value(top)].filter { !$0.isNaN }.max() ?? -.infinity
    }

    /// A number for a sentence: three significant digits, or a power of ten for large ones.
    static func number(_ value: Double) -> String {
        value < 1e6 ? String(format: "%.3g", value) : String(format: "%.2g", value)
    }
}
