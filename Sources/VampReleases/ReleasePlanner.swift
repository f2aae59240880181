public import Foundation
public import VampModel
public import VampStatistics

/// The decisions of a release, as a pure state machine: the release, its state, what happened and the time in; the
/// new state and what to do out. The release driver performs the actions (gateway writes, webhooks, events); tests
/// and the simulation run the same function with a test clock and synthetic figures.
///
/// - Each period's figures are added to the evidence, and the canary is judged against the baseline on all of it
///   (`VampStatistics`' always-valid checks, the release's α split evenly between them): a failed check rolls the
///   canary back to 0% at once, whatever the step.
/// - A step is done once it lasted `Release.minimumDuration` and the canary answered
///   `Release.minimumRequests` in it. Without those requests, the release holds; after
///   `InsufficientDataRule.after` it fails or keeps holding. It never moves on without data.
/// - Before a step: its approval (a user's `approve`), then the `confirm_step` and `before_step` webhooks.
public enum ReleasePlanner {
    /// What a decision leaves.
    public typealias Outcome = (state: ReleaseState, actions: [ReleaseAction])

    /// Starts a release at its first step (after its approval or webhooks, when it has them). A canary the release
    /// merged that does not run yet (`canaryRunning` false) is waited for, at 0%: its first step comes with
    /// ``ReleaseInput/canaryDeployed(_:)``.
    public static func start(_ release: Release, now: Date, canaryRunning: Bool = true) -> Outcome {
        var state = ReleaseState(
            phase: .progressing, step: 0, weight: .zero, started: now, stepStarted: now, stepRequests: 0, holdingSince: nil,
            pausedFrom: nil, pendingWebhook: nil, approvalFor: nil, evidence: ReleaseEvidence(), timeline: [])
        var actions: [ReleaseAction] = []
        guard canaryRunning else {
            state.waitingForCanarySince = now
            decide(&state, &actions, .started, now: now, "release of \(release.canary) against \(release.baseline) started: \(release.canary) is merged into cluster '\(release.cluster)' at 0%; the first step comes when it runs")
            return (state, actions)
        }
        decide(&state, &actions, .started, now: now, "release of \(release.canary) against \(release.baseline) started")
        enter(step: 0, release, &state, &actions, now: now)
        return (state, actions)
    }

    /// The release after `input`.
    public static func next(_ release: Release, _ state: ReleaseState, _ input: ReleaseInput, now: Date) -> Outcome {
        var state = state
        var actions: [ReleaseAction] = []
        guard !state.phase.isFinal else { return (state, []) }
        if let since = state.waitingForCanarySince, waitForCanary(release, &state, &actions, input, since: since, now: now) {
            return (state, actions)
        }
        switch input {
        case .figures(let figures):
            state.evidence.add(figures)
            state.stepRequests += figures.canary.requests
            observe(release, &state, &actions, now: now)
        case .tick:
            observe(release, &state, &actions, now: now)
        case .command(let command):
            apply(command, release, &state, &actions, now: now)
        case .webhookAnswered(let moment, let succeeded, let message):
            guard let pending = state.pendingWebhook, pending.moment == moment else { break }
            state.pendingWebhook = nil
            guard succeeded else {
                finish(.failed, release, &state, &actions, now: now, "the \(moment.rawValue) webhook halted the release: \(message)")
                break
            }
            decide(&state, &actions, .webhook, now: now, "the \(moment.rawValue) webhook answered: \(message)")
            if moment == .confirmStep, release.webhooks.contains(where: { $0.moment == .beforeStep }) {
                state.pendingWebhook = .init(moment: .beforeStep, step: pending.step)
                actions.append(.callWebhooks(.beforeStep))
            } else {
                setStep(pending.step, release, &state, &actions, now: now)
            }
        case .halt(let reason):
            finish(.failed, release, &state, &actions, now: now, "failed: \(reason)")
        case .canaryDeployed:
            // Only a release that waits for its canary cares.
            break
        case .manualWeightChange(let description):
            guard state.phase != .paused else { break }
            state.pausedFrom = state.phase
            state.phase = .paused
            decide(&state, &actions, .paused, now: now, "paused: the gateway's weights were changed by hand (\(description))")
        }
        return (state, actions)
    }

    /// The checks of `release`, each with its share of α.
    public static func judge(_ release: Release, _ evidence: ReleaseEvidence) -> [CheckJudgement] {
        let count = Double([release.checks.errorRate != nil, release.checks.responseTime != nil].filter { $0 }.count)
        guard count > 0 else { return [] }
        let alpha = release.falseRollbackProbability / count
        var judgements: [CheckJudgement] = []
        if let rule = release.checks.errorRate {
            let check = ErrorRateCheck(allowance: allowance(rule.allowance), ceiling: rule.ceiling, alpha: alpha)
            var judgement = check.judge(baseline: evidence.baseline, canary: evidence.canary)
            judgement.name = "error_rate"
            judgements.append(judgement)
        }
        if let rule = release.checks.responseTime {
            let check = QuantileCheck(quantile: rule.percentile / 100, allowance: allowance(rule.allowance), ceiling: rule.ceiling, alpha: alpha)
            var judgement = check.judge(
                baseline: ResponseTimes(evidence.baselineTimes.map { ($0.key, $0.value) }),
                canary: ResponseTimes(evidence.canaryTimes.map { ($0.key, $0.value) }))
            judgement.name = "response_time"
            judgements.append(judgement)
        }
        return judgements
    }

    static func allowance(_ allowance: ReleaseAllowance) -> Allowance {
        switch allowance {
        case .increase(let value): .absolute(value)
        case .ratio(let value): .relative(value)
        }
    }

    // MARK: Steps

    private static func observe(_ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date) {
        // A canary with traffic is judged also while its next step waits (an approval, a webhook); a paused release
        // is left alone.
        guard [.progressing, .holding, .awaitingApproval].contains(state.phase) else { return }
        let judgements = judge(release, state.evidence)
        if let failed = judgements.first(where: \.failed) {
            finish(.rolledBack, release, &state, &actions, now: now, "rolled back: \(failed.explanation)", checks: judgements)
            return
        }
        guard state.phase != .awaitingApproval, state.pendingWebhook == nil else { return }
        let elapsed = now.timeIntervalSince(state.stepStarted)
        guard elapsed >= Double(release.minimumDuration.seconds) else { return }
        guard state.stepRequests >= release.minimumRequests else {
            hold("insufficient data at step \(state.step + 1) (\(state.weight)): \(state.stepRequests) of \(release.minimumRequests) requests to the canary",
                 reason: "requests", release, &state, &actions, now: now, checks: judgements)
            return
        }
        // A canary that looks worse than allowed, without the evidence to roll it back yet, gets no more traffic:
        // it holds at its step until the evidence rolls it back, it looks within again, or the wait runs out.
        if let worse = judgements.first(where: { !$0.looksWithin }) {
            hold("holding at step \(state.step + 1) (\(state.weight)): the canary looks worse than allowed, not yet with the evidence to roll it back: \(worse.explanation)",
                 reason: "worse", release, &state, &actions, now: now, checks: judgements)
            return
        }
        let next = state.step + 1
        // Never all of the traffic without having been judged (a p99 needs enough of both routes' requests to be
        // bounded): before a step that gives the canary 100%, or before promotion from a step below it. A step at 100%
        // was judged before it; the baseline gets no more requests there, so waiting would not help.
        let full = { (step: Int) in release.steps[step].weight == .full && release.steps[step].condition == nil }
        let mustBeJudged = next == release.steps.count ? !full(state.step) : full(next)
        if mustBeJudged, let unjudged = judgements.first(where: { !$0.judged }) {
            hold("insufficient data to give the canary all of the traffic: \(unjudged.explanation)", reason: "unjudged", release, &state, &actions, now: now, checks: judgements)
            return
        }
        state.phase = .progressing
        state.holdingSince = nil
        state.holdingReason = nil
        guard next < release.steps.count else {
            finish(.promoted, release, &state, &actions, now: now, "promoted: every step passed", checks: judgements)
            return
        }
        decide(&state, &actions, .advanced, now: now, "step \(state.step + 1) (\(state.weight)) passed: \(state.stepRequests) requests to the canary", checks: judgements)
        enter(step: next, release, &state, &actions, now: now)
    }

    /// Holds for lack of data: said when it starts and once per `InsufficientDataRule.after`; then fails
    /// or keeps holding.
    private static func hold(
        _ shortfall: String, reason: String, _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date,
        checks: [CheckJudgement]
    ) {
        if state.phase != .holding {
            state.phase = .holding
            state.holdingSince = now
            state.holdingReason = reason
            decide(&state, &actions, .holding, now: now, shortfall, checks: checks)
        } else if state.holdingReason != reason {
            // Still holding, for another reason now: said, so that the timeline's last word is the reason of now.
            state.holdingReason = reason
            decide(&state, &actions, .holding, now: now, shortfall, checks: checks)
        } else if let since = state.holdingSince, now.timeIntervalSince(since) >= Double(release.insufficientData.after.seconds) {
            switch release.insufficientData.then {
            case .fail:
                finish(.failed, release, &state, &actions, now: now, "\(shortfall) for \(release.insufficientData.after): failed", checks: checks)
            case .hold:
                // Said once per wait: the timeline does not fill with the same sentence.
                state.holdingSince = now
                decide(&state, &actions, .holding, now: now, "\(shortfall) for \(release.insufficientData.after): still holding", checks: checks)
            }
        }
    }

    /// Before a step: its approval, then its webhooks, then its weight.
    static func enter(step: Int, _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date, approved: Bool = false) {
        if release.steps[step].approval, !approved {
            // The weight stays the previous step's until someone approves.
            state.phase = .awaitingApproval
            state.approvalFor = step
            decide(&state, &actions, .approvalNeeded, now: now, "step \(step + 1) (\(release.steps[step].weight)) waits for approval")
            return
        }
        for moment in [ReleaseWebhook.Moment.confirmStep, .beforeStep] where step > 0 || moment == .beforeStep {
            guard release.webhooks.contains(where: { $0.moment == moment }) else { continue }
            state.pendingWebhook = .init(moment: moment, step: step)
            actions.append(.callWebhooks(moment))
            return
        }
        setStep(step, release, &state, &actions, now: now)
    }

    private static func setStep(_ step: Int, _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date) {
        let target = release.steps[step]
        state.phase = .progressing
        state.step = step
        state.weight = target.weight
        state.stepStarted = now
        state.stepRequests = 0
        state.holdingSince = nil
        state.holdingReason = nil
        actions.append(.setWeights(canary: target.weight, condition: target.condition))
        decide(&state, &actions, .advanced, now: now, "step \(step + 1): the canary at \(target.weight)\(target.condition.map { " for requests where \($0)" } ?? "")")
    }

    // MARK: Commands and endings

    private static func apply(_ command: ReleaseCommand, _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date) {
        switch command {
        case .pause:
            guard state.phase != .paused else { return }
            state.pausedFrom = state.phase
            state.phase = .paused
            decide(&state, &actions, .paused, now: now, "paused by a user at step \(state.step + 1) (\(state.weight))")
        case .resume:
            guard state.phase == .paused else { return }
            state.phase = state.pausedFrom ?? .progressing
            state.pausedFrom = nil
            decide(&state, &actions, .resumed, now: now, "resumed at step \(state.step + 1) (\(state.weight))")
        case .approve:
            guard state.phase == .awaitingApproval, let step = state.approvalFor else { return }
            state.approvalFor = nil
            decide(&state, &actions, .approved, now: now, "step \(step + 1) approved")
            enter(step: step, release, &state, &actions, now: now, approved: true)
        case .promote:
            finish(.promoted, release, &state, &actions, now: now, "promoted by a user at step \(state.step + 1), skipping the rest")
        case .abort:
            finish(.aborted, release, &state, &actions, now: now, "aborted by a user: the canary back to 0%")
        }
    }

    static func finish(
        _ phase: ReleaseState.Phase, _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], now: Date, _ message: String,
        checks: [CheckJudgement]? = nil
    ) {
        state.phase = phase
        state.pendingWebhook = nil
        state.approvalFor = nil
        state.holdingSince = nil
        let promoted = phase == .promoted
        state.weight = promoted ? .full : .zero
        state.holdingReason = nil
        // Promoted (also by a user, skipping steps): at the last step, with all of the traffic.
        if promoted { state.step = release.steps.count - 1 }
        // The gateway first: an abort or a rollback is one write, before anything else.
        actions.append(.setWeights(canary: state.weight, condition: nil))
        let kind: ReleaseDecision.Kind = switch phase {
        case .promoted: .promoted
        case .rolledBack: .rolledBack
        case .aborted: .aborted
        default: .failed
        }
        decide(&state, &actions, kind, now: now, message, checks: checks ?? judge(release, state.evidence))
        if promoted, release.removeBaselineOnSuccess { actions.append(.removeBaseline) }
        if release.webhooks.contains(where: { $0.moment == (promoted ? .completion : .rollback) }) {
            actions.append(.callWebhooks(promoted ? .completion : .rollback))
        }
    }

    static func decide(
        _ state: inout ReleaseState, _ actions: inout [ReleaseAction], _ kind: ReleaseDecision.Kind, now: Date, _ message: String,
        checks: [CheckJudgement] = []
    ) {
        let decision = ReleaseDecision(time: now, kind: kind, step: state.step, weight: state.weight, message: message, checks: checks)
        state.timeline.append(decision)
        // A release that holds for days says so once per wait: its record stays bounded, the start kept.
        if state.timeline.count > ReleaseState.timelineLimit { state.timeline.remove(at: 1) }
        actions.append(.publish(decision))
    }
}
