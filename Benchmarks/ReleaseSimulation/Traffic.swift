import Foundation

/// A small, fast, seeded generator (SplitMix64): every run of the simulation sees the same traffic.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A log-uniform value between `low` and `high`.
    mutating func logUniform(_ low: Double, _ high: Double) -> Double { exp(log(low) + uniform() * (log(high) - log(low))) }

    /// Poisson by inversion (the means here are at most a few hundred).
    mutating func poisson(_ mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        if mean > 60 { return max(0, Int((mean + mean.squareRoot() * normal()).rounded())) }
        let limit = exp(-mean)
        var (count, product) = (0, uniform())
        while product > limit {
            count += 1
            product *= uniform()
        }
        return count
    }

    mutating func binomial(_ n: Int, _ p: Double) -> Int {
        guard n > 0, p > 0 else { return 0 }
        if n > 50 && p < 0.1 { return min(n, poisson(Double(n) * p)) }
        if n > 100 { return max(0, min(n, Int((Double(n) * p + (Double(n) * p * (1 - p)).squareRoot() * normal()).rounded()))) }
        var count = 0
        for _ in 0..<n where uniform() < p { count += 1 }
        return count
    }

    mutating func normal() -> Double {
        let (u, v) = (max(uniform(), Double.ulpOfOne), uniform())
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// One release's traffic, drawn once: the request rate, the baseline's error rate and response times, and how the
/// canary differs.
struct Scenario {
    enum Canary: String, CaseIterable {
        case good = "as good as the baseline"
        case errors = "5 points more 5xx"
        case slow = "50 ms slower"
        /// Exactly at the error-rate allowance (1 point more 5xx): what a test's α bounds. Last, so that the other
        /// kinds keep their seeds.
        case edge = "1 point more 5xx, at the allowance"
    }

    /// Requests per second to the gateway (both routes).
    var rate: Double
    /// The baseline's share of 5xx.
    var baselineErrors: Double
    /// The median response time (ms); log-normal with σ 0.5, so p99 is about 3.2 times the median.
    var median: Double
    var canary: Canary

    static func draw(_ canary: Canary, _ random: inout SplitMix) -> Scenario {
        Scenario(rate: random.logUniform(10, 200), baselineErrors: random.logUniform(0.001, 0.02), median: 5 + random.uniform() * 35, canary: canary)
    }

    var canaryErrors: Double {
        switch canary {
        case .errors: baselineErrors + 0.05
        case .edge: baselineErrors + 0.01
        default: baselineErrors
        }
    }
    var canaryShift: Double { canary == .slow ? 50 : 0 }

    /// One route's second: requests, errors and a histogram of response times (whole milliseconds).
    func second(requests: Int, errors: Double, shift: Double, _ random: inout SplitMix) -> (requests: Int, errors: Int, times: [Double: Int]) {
        var times: [Double: Int] = [:]
        for _ in 0..<requests { times[(median * exp(0.5 * random.normal()) + shift).rounded(), default: 0] += 1 }
        return (requests, random.binomial(requests, errors), times)
    }

    /// The p99 of the baseline's response times (what a fixed rule's limit is set from).
    var baselineP99: Double { median * exp(0.5 * 2.326) }
}
