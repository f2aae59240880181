import Foundation

/// How much worse than the baseline a canary may be.
public enum Allowance: Sendable, Hashable {
    /// The canary's figure may exceed the baseline's by this much (an error rate's share, 0.01 for one percentage
    /// point; milliseconds for a response time).
    case absolute(Double)
    /// The canary's figure may be this many times the baseline's.
    case relative(Double)
}

/// Requests and failed requests (5xx) of one route over the same time as the other's.
public struct ErrorCounts: Sendable, Hashable, Codable {
    /// Requests answered.
    public var requests: Int
    /// Of those, the ones that failed.
    public var errors: Int

    /// Counts of requests and errors.
    public init(requests: Int, errors: Int) {
        self.requests = requests
        self.errors = errors
    }

    /// `errors / requests`, 0 without requests.
    public var rate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }
}

/// What a check found, with the figures that led to it: an operator reads why a canary was (or was not) failed.
public struct CheckJudgement: Sendable, Hashable, Codable {
    /// Which check this is (`error_rate`, `response_time`), as the caller names it; empty when unnamed.
    public var name: String = ""
    /// Whether the evidence that the canary is worse than allowed is strong enough (at the check's error probability).
    public var failed: Bool
    /// The canary's observed figure (error rate, or the quantile in ms); `nil` without data.
    public var canary: Double?
    /// The baseline's observed figure.
    public var baseline: Double?
    /// The statistic compared with ``threshold``: a lower confidence bound of the canary's excess over the baseline
    /// (difference or ratio, as the allowance says), or of the canary's figure against a ceiling.
    public var statistic: Double?
    /// What the statistic must exceed for the check to fail.
    public var threshold: Double
    /// The sentence for the release's timeline.
    public var explanation: String
    /// Whether there were enough requests to judge at all: both routes answered requests and, for a quantile, the
    /// canary's is bounded from above. A release does not promote a canary that was never judged.
    public var judged: Bool = true
    /// Whether the observed figures (not their bounds) are within the allowance and the ceiling: a canary that only
    /// looks worse is not yet failed, but a release does not give it more traffic.
    public var looksWithin: Bool = true
}

/// The error-rate check: is the canary's share of failed requests higher than the baseline's by more than the
/// allowance (or above a ceiling)?
///
/// It fails only when the always-valid bounds say so: the canary's lower bound `L_B` against the baseline's upper
/// bound `U_A`, each a ``BernoulliConfidenceSequence`` at level `α/2`. `L_B − U_A > δ` (absolute) or `L_B > m · U_A`
/// (relative), or `L_B > c` (ceiling). When the canary is within its allowance, this happens with probability at
/// most `α` over the whole release, however often it is checked (both bounds hold at every time with probability at
/// least `1 − α`, and then the canary's true excess is above the allowance).
public struct ErrorRateCheck: Sendable, Hashable {
    /// How much worse the canary may be.
    public var allowance: Allowance
    /// A rate the canary may not exceed, whatever the baseline's.
    public var ceiling: Double?
    /// The probability of failing a canary that is within its allowance, over the whole release.
    public var alpha: Double
    /// The confidence sequence of both routes.
    public var sequence: BernoulliConfidenceSequence

    /// A check with an allowance, an optional ceiling and its error probability.
    public init(allowance: Allowance, ceiling: Double? = nil, alpha: Double, sequence: BernoulliConfidenceSequence = .init()) {
        self.allowance = allowance
        self.ceiling = ceiling
        self.alpha = alpha
        self.sequence = sequence
    }

    /// Judges the counts of both routes over the same time.
    public func judge(baseline: ErrorCounts, canary: ErrorCounts) -> CheckJudgement {
        var judgement = evaluate(baseline: baseline, canary: canary)
        if canary.requests > 0, baseline.requests > 0 {
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

    private func evaluate(baseline: ErrorCounts, canary: ErrorCounts) -> CheckJudgement {
        let judged = canary.requests > 0 && baseline.requests > 0
        let canaryBound = sequence.interval(successes: canary.errors, trials: canary.requests, alpha: alpha / 2).lowerBound
        let baselineBound = sequence.interval(successes: baseline.errors, trials: baseline.requests, alpha: alpha / 2).upperBound
        let observed = (canary.requests > 0 ? canary.rate : nil, baseline.requests > 0 ? baseline.rate : nil)
        func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
        if let ceiling, canaryBound > ceiling {
            return CheckJudgement(
                failed: true, canary: observed.0, baseline: observed.1, statistic: canaryBound, threshold: ceiling,
                explanation: "the canary's error rate is at least \(percent(canaryBound)) (observed \(percent(canary.rate)), \(canary.errors) of \(canary.requests) requests), above the ceiling of \(percent(ceiling))",
                judged: true)
        }
        let intro = "error rate: canary \(percent(canary.rate)) (\(canary.errors)/\(canary.requests), at least \(percent(canaryBound))), baseline \(percent(baseline.rate)) (\(baseline.errors)/\(baseline.requests), at most \(percent(baselineBound)))"
        switch allowance {
        case .absolute(let delta):
            let excess = canaryBound - baselineBound
            let failed = excess > delta
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: delta,
                explanation: "\(intro): the excess is at least \(percent(excess)), \(failed ? "above" : "within") the allowed \(percent(delta))",
                judged: judged || failed)
        case .relative(let ratio):
            let excess = baselineBound > 0 ? canaryBound / baselineBound : (canaryBound > 0 ? Double.infinity : 0)
            let failed = excess > ratio
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: ratio,
                explanation: "\(intro): the canary's is at least \(String(format: "%.2f", excess)) times the baseline's, \(failed ? "above" : "within") the allowed \(String(format: "%.2f", ratio))",
                judged: judged || failed)
        }
    }
}

/// Response times of one route as a histogram: values in milliseconds with their counts (Pulse's `[ms, count]`).
public struct ResponseTimes: Sendable, Hashable {
    /// `(milliseconds, count)`, in any order.
    public var counts: [(value: Double, count: Int)]

    /// A histogram of response times.
    public init(_ counts: [(value: Double, count: Int)]) {
        self.counts = counts
    }

    /// The number of values.
    public var total: Int { counts.reduce(0) { $0 + $1.count } }

    /// The number of values at or below `threshold`.
    public func atOrBelow(_ threshold: Double) -> Int { counts.reduce(0) { $0 + ($1.value <= threshold ? $1.count : 0) } }

    /// The smallest value with at least `quantile` of the values at or below it; `nil` without values.
    public func quantile(_ quantile: Double) -> Double? {
        let sorted = counts.filter { $0.count > 0 }.sorted { $0.value < $1.value }
        let total = sorted.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        let rank = quantile * Double(total)
        var seen = 0
        for entry in sorted {
            seen += entry.count
            if Double(seen) >= rank { return entry.value }
        }
        return sorted.last?.value
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.counts.map(\.value) == rhs.counts.map(\.value) && lhs.counts.map(\.count) == rhs.counts.map(\.count)
    }

    public func hash(into hasher: inout Hasher) {
        for entry in counts {
            hasher.combine(entry.value)
            hasher.combine(entry.count)
        }
    }
}

/// The response-time check: is the canary's quantile (p99) above the baseline's by more than the allowance, or
/// above a ceiling?
///
/// A quantile is read through the share of values at or below fixed thresholds `x_1 < … < x_K` (``thresholds``):
/// `F(x) = P(value ≤ x)` is a Bernoulli mean, bounded by a ``BernoulliConfidenceSequence`` at level `α/(2K)` for each
/// threshold and route (a union bound over the `2K` sequences, so all hold at once with probability `1 − α`). Then
///
/// - the baseline's quantile is at most `U_A = min{x_k : lower(F_A(x_k)) ≥ q}`;
/// - the canary's quantile is above `L_B = max{x_k : upper(F_B(x_k)) < q}`;
///
/// and the check fails when `L_B − U_A ≥ δ` (absolute), `L_B ≥ m · U_A` (relative) or `L_B ≥ c` (ceiling). As for
/// errors, a canary within its allowance fails with probability at most `α` over the whole release. (A simpler
/// relative of the quantile confidence sequences of Howard and Ramdas, "Sequential estimation of quantiles with
/// applications to A/B-testing and best-arm identification", Bernoulli 2022, on a fixed grid.)
public struct QuantileCheck: Sendable, Hashable {
    /// The quantile compared, `0.99` for p99.
    public var quantile: Double
    /// How much slower the canary may be (milliseconds, or a ratio).
    public var allowance: Allowance
    /// A response time (ms) the canary's quantile may not exceed, whatever the baseline's.
    public var ceiling: Double?
    /// The probability of failing a canary that is within its allowance, over the whole release.
    public var alpha: Double
    /// The grid of thresholds (ms), increasing.
    public var thresholds: [Double]
    /// The confidence sequences' mixing distribution.
    public var sequence: BernoulliConfidenceSequence

    /// Every millisecond to 20 ms, then 5% apart to 60 s: 185 thresholds. A finer grid bounds a quantile more
    /// closely; each threshold costs a little width (the union bound's `log(2K/α)`).
    public static let defaultThresholds: [Double] = {
        var thresholds = (1...20).map(Double.init)
        while let last = thresholds.last, last < 60_000 { thresholds.append((last * 1.05).rounded()) }
        return thresholds
    }()

    /// A check of `quantile` with an allowance, an optional ceiling and its error probability.
    public init(
        quantile: Double, allowance: Allowance, ceiling: Double? = nil, alpha: Double, thresholds: [Double] = Self.defaultThresholds,
        sequence: BernoulliConfidenceSequence = .init()
    ) {
        self.quantile = quantile
        self.allowance = allowance
        self.ceiling = ceiling
        self.alpha = alpha
        self.thresholds = thresholds
        self.sequence = sequence
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
        let level = alpha / Double(2 * thresholds.count)
        let (baselineAtOrBelow, canaryAtOrBelow) = (cumulative(baseline), cumulative(canary))
        let (baselineTotal, canaryTotal) = (baseline.total, canary.total)
        // Bounds move with the counts, which grow with the threshold: the first threshold whose lower bound reaches
        // q is among those whose share does, and the last whose upper bound stays below q among those whose share
        // does; scanning from there computes a few bounds, not 2K.
        let baselineBound = baselineTotal == 0 ? nil : thresholds.indices.first { index in
            Double(baselineAtOrBelow[index]) >= quantile * Double(baselineTotal)
                && sequence.interval(successes: baselineAtOrBelow[index], trials: baselineTotal, alpha: level).lowerBound >= quantile
        }.map { thresholds[$0] }
        let canaryBound = canaryTotal == 0 ? nil : thresholds.indices.last { index in
            Double(canaryAtOrBelow[index]) < quantile * Double(canaryTotal)
                && sequence.interval(successes: canaryAtOrBelow[index], trials: canaryTotal, alpha: level).upperBound < quantile
        }.map { thresholds[$0] }
        // The canary's quantile is bounded from above: enough of its requests to judge it at all.
        let judged = baselineTotal > 0 && canaryTotal > 0 && thresholds.indices.contains { index in
            Double(canaryAtOrBelow[index]) >= quantile * Double(canaryTotal)
                && sequence.interval(successes: canaryAtOrBelow[index], trials: canaryTotal, alpha: level).lowerBound >= quantile
        }
        let name = "p\(Self.percentile(quantile))"
        let observed = (canary.quantile(quantile), baseline.quantile(quantile))
        func ms(_ value: Double?) -> String { value.map { String(format: "%g ms", $0) } ?? "unknown" }
        let intro = "\(name): canary \(ms(observed.0)) (above \(ms(canaryBound)), \(canaryTotal) requests), baseline \(ms(observed.1)) (at most \(ms(baselineBound)), \(baselineTotal) requests)"
        if let ceiling, let canaryBound, canaryBound >= ceiling {
            return CheckJudgement(
                failed: true, canary: observed.0, baseline: observed.1, statistic: canaryBound, threshold: ceiling,
                explanation: "\(intro): above the ceiling of \(ms(ceiling))", judged: true)
        }
        guard let canaryBound, let baselineBound else {
            return CheckJudgement(
                failed: false, canary: observed.0, baseline: observed.1, statistic: nil, threshold: Self.threshold(allowance),
                explanation: "\(intro): not enough requests to bound both", judged: judged)
        }
        switch allowance {
        case .absolute(let delta):
            let excess = canaryBound - baselineBound
            let failed = excess >= delta
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: delta,
                explanation: "\(intro): slower by more than \(ms(excess)), \(failed ? "beyond" : "within") the allowed \(ms(delta))",
                judged: judged || failed)
        case .relative(let ratio):
            let excess = canaryBound / baselineBound
            let failed = excess >= ratio
            return CheckJudgement(
                failed: failed, canary: observed.0, baseline: observed.1, statistic: excess, threshold: ratio,
                explanation: "\(intro): more than \(String(format: "%.2f", excess)) times the baseline's, \(failed ? "beyond" : "within") the allowed \(String(format: "%.2f", ratio))",
                judged: judged || failed)
        }
    }

    /// The number of values at or below each threshold, in one pass over the sorted values.
    func cumulative(_ times: ResponseTimes) -> [Int] {
        let sorted = times.counts.sorted { $0.value < $1.value }
        var result: [Int] = []
        result.reserveCapacity(thresholds.count)
        var (index, seen) = (0, 0)
        for threshold in thresholds {
            while index < sorted.count, sorted[index].value <= threshold {
                seen += sorted[index].count
                index += 1
            }
            result.append(seen)
        }
        return result
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
