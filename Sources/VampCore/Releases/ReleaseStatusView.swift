import Foundation
public import VampModel
public import VampReleases
public import VampStatistics

/// The `status` of a release as the API shows it (`GET /releases/{name}`) and its events carry: the phase, the step
/// (numbered from 1), the canary's weight, the evidence of both routes, the latest checks and the timeline, every
/// figure named so that an operator can answer "why did it stop?".
public enum ReleaseStatusView {
    /// The status of `release` in `record`.
    public static func json(_ release: Release, _ record: ReleaseRecord) -> JSONValue {
        let state = record.state
        var status: [String: JSONValue] = [
            "state": .string(state.phase.rawValue),
            "step": .number(Double(state.step + 1)),
            "steps": .number(Double(release.steps.count)),
            "weight": .string(state.weight.description),
            "started": time(state.started),
            "updated": time(record.updated),
            "step_started": time(state.stepStarted),
            "step_requests": .number(Double(state.stepRequests)),
            "evidence": .object([
                "baseline": route(state.evidence.baseline, state.evidence.baselineTimes),
                "canary": route(state.evidence.canary, state.evidence.canaryTimes),
            ]),
            "checks": .array(ReleasePlanner.judge(release, state.evidence).map(check)),
            "timeline": .array(state.timeline.map(decision)),
        ]
        if let step = state.approvalFor { status["awaiting_approval"] = .number(Double(step + 1)) }
        if let pending = state.pendingWebhook { status["waiting_for_webhook"] = .string(pending.moment.rawValue) }
        if let since = state.holdingSince { status["holding_since"] = time(since) }
        // A canary the release merged, not running yet: since when the first step waits for it.
        if let since = state.waitingForCanarySince { status["waiting_for_canary_since"] = time(since) }
        return .object(status)
    }

    /// A timeline entry.
    public static func decision(_ decision: ReleaseDecision) -> JSONValue {
        .object([
            "time": time(decision.time),
            "decision": .string(decision.kind.rawValue),
            "step": .number(Double(decision.step + 1)),
            "weight": .string(decision.weight.description),
            "message": .string(decision.message),
            "checks": .array(decision.checks.map(check)),
        ])
    }

    /// A check's judgement: `pass`, `fail`, `holding` (looks worse, not proven) or `not_judged` (too little data), with
    /// both routes' figures, the statistic and its threshold and what they measure.
    public static func check(_ judgement: CheckJudgement) -> JSONValue {
        let outcome = judgement.failed ? "fail" : !judgement.judged ? "not_judged" : !judgement.looksWithin ? "holding" : "pass"
        return .object([
            "check": .string(judgement.name),
            "outcome": .string(outcome),
            "canary": number(judgement.canary),
            "baseline": number(judgement.baseline),
            // A check without the data to judge has no statistic to show.
            "statistic": judgement.judged ? number(judgement.statistic) : .null,
            "threshold": number(judgement.threshold),
            // What statistic and threshold are: `evidence` (a likelihood ratio against 1/α), `difference` (ms),
            // `ratio` or `ceiling`.
            "measure": judgement.measure.map { .string($0.rawValue) } ?? .null,
            "explanation": .string(judgement.explanation),
        ])
    }

    static func route(_ counts: ErrorCounts, _ times: [Double: Int]) -> JSONValue {
        var route: [String: JSONValue] = [
            "requests": .number(Double(counts.requests)),
            "errors": .number(Double(counts.errors)),
            "error_rate": number(counts.requests == 0 ? nil : counts.rate),
        ]
        let sorted = times.sorted { $0.key < $1.key }
        let total = sorted.reduce(0) { $0 + $1.value }
        for (key, quantile) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            route[key] = number(Self.quantile(quantile, sorted, total: total))
        }
        return .object(route)
    }

    /// The smallest recorded time with at least `quantile` of the times at or below it.
    static func quantile(_ quantile: Double, _ sorted: [(key: Double, value: Int)], total: Int) -> Double? {
        guard total > 0 else { return nil }
        let rank = Int((quantile * Double(total)).rounded(.up))
        var seen = 0
        for (value, count) in sorted {
            seen += count
            if seen >= rank { return value }
        }
        return sorted.last?.key
    }

    static func number(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number((value * 1_000_000).rounded() / 1_000_000)
    }

    static func time(_ date: Date) -> JSONValue { .string(date.formatted(Self.format)) }

    static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
