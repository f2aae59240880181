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
    /// The statistic compared with ``threshold``. For the error rate, the evidence `E` (a likelihood ratio) that the
    /// canary is worse than allowed, or above its ceiling; for a response time, the always-valid lower bound of the
    /// canary's quantile less (or over) the baseline's upper bound, or the canary's bound against a ceiling.
    public var statistic: Double?
    /// What fails the check: evidence reaching `1/α` (the error rate), a bound beyond the allowance or the ceiling (a
    /// response time).
    public var threshold: Double
    /// The sentence for the release's timeline.
    public var explanation: String
    /// Whether there were enough requests to judge at all: both routes answered requests and, for a quantile, the
    /// canary's is bounded from above. A release does not promote a canary that was never judged.
    public var judged: Bool = true
    /// Whether the observed figures (not their bounds) are within the allowance and the ceiling: a canary that only
    /// looks worse is not yet failed, but a release does not give it more traffic.
    public var looksWithin: Bool = true
    /// What ``statistic`` and ``threshold`` measure, for showing them in their unit (`nil` in a judgement recorded
    /// before it was said).
    public var measure: Measure?

    /// What a judgement's statistic and threshold are.
    public enum Measure: String, Sendable, Hashable, CaseIterable, Codable {
        /// A likelihood ratio against `1/α`: no unit (the error rate).
        case evidence
        /// The canary's bound less the baseline's, against the allowance, in the check's unit (milliseconds).
        case difference
        /// The canary's bound over the baseline's, against the allowed ratio.
        case ratio
        /// The canary's bound against a ceiling, in the check's unit.
        case ceiling
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
