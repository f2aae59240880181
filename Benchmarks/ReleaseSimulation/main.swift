import Foundation
import VampModel
import VampReleases
import VampStatistics

// Releases of simulated canaries judged by the real decision code (VampReleases' ReleasePlanner, fed as the release
// driver feeds it: every second, the figures of the seconds up to 2 s ago, as Pulse has them) beside a fixed-interval
// rule in the manner of Flagger (every interval, the canary's error rate and p99 over that interval against fixed
// limits; rolled back after `threshold` failed checks; no data is a failed check), on the same scenarios: seeded, so
// every run prints the same figures.
//
//   swift build -c release --package-path Benchmarks --scratch-path /var/tmp/vamp-bench-release --product release-simulation
//   /var/tmp/vamp-bench-release/release/release-simulation [releases per kind, default 1000] [seconds between looks, default 1]
//       [the first step's weight in %, default 5] [α in %, default 1]

let releasesPerKind = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1000 : 1000
/// How often ours looks at the figures (the release driver's period, `vamp.operation.release.period`).
let lookEvery = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 1 : 1
/// How far behind the clock the driver reads the figures (its `settle`: an agent sends a second's figures after it).
let settle = 2
/// The release's steps (the issue's example): the first one's weight may be given.
let steps = [CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3]) ?? 5 : 5, 25, 50, 100]
/// The release's α (`false_rollback_probability`), in %: the fixed rule is compared at the false-stop rate it gives.
let alpha = (CommandLine.arguments.count > 4 ? Double(CommandLine.arguments[4]) ?? 1 : 1) / 100
let stepSeconds = 30
let limit = 1800

let release = Release(
    name: "sim", deployment: "d", cluster: "c", port: "p", baseline: "a", canary: "b",
    steps: steps.map { ReleaseStep(weight: Percentage($0)!) }, minimumDuration: TimeValue(seconds: stepSeconds)!, minimumRequests: 100,
    checks: ReleaseChecks(errorRate: .init(allowance: .increase(0.01)), responseTime: .init(percentile: 99, allowance: .ratio(1.2))),
    falseRollbackProbability: alpha, insufficientData: InsufficientDataRule(after: TimeValue(seconds: 600)!, then: .fail))

/// How a release ended, when, and what the canary cost until then.
struct Result {
    /// Rolled back on evidence.
    var rolledBack: Bool
    var promoted: Bool
    /// Stopped any way but promotion: rolled back, or failed after holding too long (the canary at 0% either way).
    var stopped: Bool { !promoted && seconds < limit }
    var seconds: Int
    /// Failed canary requests (5xx; for a slow canary, every request it answered) until the end.
    var failed: Int
}

func simulateOurs(_ scenario: Scenario, _ random: inout SplitMix) -> Result {
    let start = Date(timeIntervalSince1970: 0)
    var (state, actions) = ReleasePlanner.start(release, now: start)
    var weight = 0
    func follow(_ actions: [ReleaseAction]) {
        for case .setWeights(let canary, _) in actions { weight = canary.value }
    }
    follow(actions)
    var failed = 0
    // Each second's figures, fed `settle` seconds later.
    var seconds: [ReleaseFigures] = []
    var fed = 0
    for second in 1...limit {
        let requests = random.poisson(scenario.rate)
        let toCanary = random.binomial(requests, Double(weight) / 100)
        let canary = scenario.second(requests: toCanary, errors: scenario.canaryErrors, shift: scenario.canaryShift, &random)
        let baseline = scenario.second(requests: requests - toCanary, errors: scenario.baselineErrors, shift: 0, &random)
        failed += scenario.canary == .slow ? canary.requests : canary.errors
        seconds.append(ReleaseFigures(
            baseline: .init(requests: baseline.requests, errors: baseline.errors, responseTimes: baseline.times),
            canary: .init(requests: canary.requests, errors: canary.errors, responseTimes: canary.times)))
        guard second % lookEvery == 0 else { continue }
        var pending = ReleaseFigures(baseline: .init(requests: 0, errors: 0), canary: .init(requests: 0, errors: 0))
        let upTo = second - settle
        while fed < upTo {
            let figures = seconds[fed]
            pending.baseline.requests += figures.baseline.requests
            pending.baseline.errors += figures.baseline.errors
            pending.canary.requests += figures.canary.requests
            pending.canary.errors += figures.canary.errors
            for (value, count) in figures.baseline.responseTimes { pending.baseline.responseTimes[value, default: 0] += count }
            for (value, count) in figures.canary.responseTimes { pending.canary.responseTimes[value, default: 0] += count }
            fed += 1
        }
        let input: ReleaseInput = upTo >= 1 ? .figures(pending) : .tick
        (state, actions) = ReleasePlanner.next(release, state, input, now: start.addingTimeInterval(Double(second)))
        follow(actions)
        if state.phase.isFinal {
            return Result(rolledBack: state.phase == .rolledBack, promoted: state.phase == .promoted, seconds: second, failed: failed)
        }
    }
    return Result(rolledBack: false, promoted: false, seconds: limit, failed: failed)
}

/// The fixed rule: limits `tolerance` times as loose as the release's allowances, from the baseline's true figures
/// (as an operator who knows them would set them).
func simulateFixed(_ scenario: Scenario, tolerance: Double, interval: Int, threshold: Int, _ random: inout SplitMix) -> Result {
    let errorLimit = scenario.baselineErrors + 0.01 * tolerance
    let p99Limit = scenario.baselineP99 * (1 + 0.2 * tolerance)
    var (step, failedChecks, failed) = (0, 0, 0)
    var window = (requests: 0, errors: 0, times: [Double: Int]())
    for second in 1...limit {
        let requests = random.poisson(scenario.rate)
        let toCanary = random.binomial(requests, Double(steps[step]) / 100)
        let canary = scenario.second(requests: toCanary, errors: scenario.canaryErrors, shift: scenario.canaryShift, &random)
        _ = scenario.second(requests: requests - toCanary, errors: scenario.baselineErrors, shift: 0, &random)
        failed += scenario.canary == .slow ? canary.requests : canary.errors
        window.requests += canary.requests
        window.errors += canary.errors
        for (value, count) in canary.times { window.times[value, default: 0] += count }
        guard second % interval == 0 else { continue }
        let p99 = ResponseTimes(window.times.map { ($0.key, $0.value) }).quantile(0.99)
        let passed = window.requests > 0 && Double(window.errors) / Double(window.requests) <= errorLimit && (p99 ?? .infinity) <= p99Limit
        window = (0, 0, [:])
        if passed {
            step += 1
            if step == steps.count { return Result(rolledBack: false, promoted: true, seconds: second, failed: failed) }
        } else {
            failedChecks += 1
            if failedChecks >= threshold { return Result(rolledBack: true, promoted: false, seconds: second, failed: failed) }
        }
    }
    return Result(rolledBack: false, promoted: false, seconds: limit, failed: failed)
}

func median(_ values: [Int]) -> Int { values.isEmpty ? 0 : values.sorted()[values.count / 2] }

struct Summary {
    /// Good canaries stopped (rolled back, or failed for holding too long).
    var falseRollbacks: Double
    /// Of those, the ones rolled back on evidence.
    var falseOnEvidence: Double = 0
    var goodPromotedMedian: Int
    /// Bad canaries: the share stopped, the median time and failed requests until stopped, the share promoted.
    var detected: [Scenario.Canary: (share: Double, seconds: Int, failed: Int, promoted: Double, rolledBack: Double)]
}

func run(_ kinds: [Scenario.Canary] = Scenario.Canary.allCases, _ simulate: (Scenario, inout SplitMix) -> Result) -> Summary {
    var detected: [Scenario.Canary: (share: Double, seconds: Int, failed: Int, promoted: Double, rolledBack: Double)] = [:]
    var (falseRollbacks, falseOnEvidence) = (0.0, 0.0)
    var promotedTimes: [Int] = []
    for kind in kinds {
        var results: [Result] = []
        for index in 0..<releasesPerKind {
            // The same scenario for every rule: release `index` of a kind draws from the same seed.
            var draws = SplitMix(state: UInt64(index) &+ 1_000_003 &* UInt64(Scenario.Canary.allCases.firstIndex(of: kind)! + 1))
            let scenario = Scenario.draw(kind, &draws)
            results.append(simulate(scenario, &draws))
        }
        let stopped = results.filter(\.stopped)
        let promoted = Double(results.filter(\.promoted).count) / Double(results.count)
        if kind == .good {
            falseRollbacks = Double(stopped.count) / Double(results.count)
            falseOnEvidence = Double(stopped.filter(\.rolledBack).count) / Double(results.count)
            promotedTimes = results.filter(\.promoted).map(\.seconds)
        } else {
            detected[kind] = (
                Double(stopped.count) / Double(results.count), median(stopped.map(\.seconds)), median(stopped.map(\.failed)), promoted,
                Double(results.filter(\.rolledBack).count) / Double(results.count))
        }
    }
    return Summary(falseRollbacks: falseRollbacks, falseOnEvidence: falseOnEvidence, goodPromotedMedian: median(promotedTimes), detected: detected)
}

func row(_ name: String, _ summary: Summary) -> String {
    func percent(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f%%", value * 100) }
    func detected(_ kind: Scenario.Canary, _ what: String) -> String {
        guard let found = summary.detected[kind] else { return "–" }
        return "\(percent(found.share)) in \(found.seconds) s, \(found.failed) \(what); \(percent(found.promoted)) promoted"
    }
    let good = summary.goodPromotedMedian == 0 ? "– | –"
        : "\(percent(summary.falseRollbacks, 2)) (\(percent(summary.falseOnEvidence, 2)) rolled back) | \(summary.goodPromotedMedian) s"
    return "| \(name) | \(good) | \(detected(.errors, "failed")) | \(detected(.slow, "slow")) |"
}

/// The canaries exactly at the allowance (neither good nor bad: what the test's α bounds), printed after the table.
var edges: [String] = []
@MainActor func edge(_ name: String, _ summary: Summary) {
    guard let found = summary.detected[.edge] else { return }
    func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
    edges.append("| \(name) | \(percent(found.rolledBack)) | \(percent(found.share)) | \(percent(found.promoted)) |")
}

let clock = ContinuousClock()
let began = clock.now
print("\(releasesPerKind) releases of each kind: rate log-uniform 10–200 req/s, baseline 5xx log-uniform 0.1–2%, response times log-normal (median 5–40 ms, σ 0.5)")
print("steps \(steps.map { "\($0)%" }.joined(separator: ", ")), at least \(stepSeconds) s and 100 canary requests each; allowances: 5xx +1 point, p99 ×1.2; α = \(alpha * 100)%")
print("")
print("| rule | good canaries stopped (of which rolled back) | good canaries promoted (median time) | 5xx canaries stopped (median time, failed requests); promoted | slow canaries stopped (median time, slow requests); promoted |")
print("|---|---|---|---|---|")
let ours = run { simulateOurs($0, &$1) }
print(row("ours: always-valid checks every \(lookEvery) s, figures \(settle) s behind (α \(alpha * 100)%)", ours))
edge("ours (α \(alpha * 100)%)", ours)
print(row("floor: an SPRT knowing the true 5xx rates (α/2)", run([.errors]) { simulateOracle($0, &$1) }))
for (interval, threshold) in [(30, 5), (30, 2)] {
    let name = "fixed: every \(interval) s, \(threshold) failed checks"
    let defaults = run { simulateFixed($0, tolerance: 1, interval: interval, threshold: threshold, &$1) }
    print(row("\(name), the same allowances", defaults))
    edge("\(name), the same allowances", defaults)
    guard defaults.falseRollbacks > ours.falseRollbacks else { continue }
    // Loosened until it stops no more good canaries than ours: the comparison at the same false-rollback rate.
    if let (tolerance, summary) = [1.5, 2, 3, 4, 6, 8, 12].lazy
        .map({ tolerance in (tolerance, run { simulateFixed($0, tolerance: tolerance, interval: interval, threshold: threshold, &$1) }) })
        .first(where: { $0.1.falseRollbacks <= ours.falseRollbacks }) {
        print(row("\(name), allowances ×\(tolerance) (tuned to at most ours' false stops)", summary))
        edge("\(name), allowances ×\(tolerance)", summary)
    } else {
        print("| \(name) | no tolerance up to ×12 stops as few good canaries as ours | | | |")
    }
}
print("")
print("| canaries at the allowance (1 point more 5xx) | rolled back on evidence | stopped | promoted |")
print("|---|---|---|---|")
for line in edges { print(line) }
print("")
print("simulated in \(clock.now - began)")
