public import Foundation
public import VampModel
public import VampStatistics

/// Where a release stands: its phase, its step, the evidence gathered since it started, and every decision so far.
public struct ReleaseState: Sendable, Hashable, Codable {
    /// The phases of a release (`status.state` in the API).
    public enum Phase: String, Sendable, Hashable, CaseIterable, Codable {
        /// Moving through its steps.
        case progressing
        /// At a step that lacks the minimum of requests.
        case holding
        /// Stopped by a user (or by a manual weight change); weights kept.
        case paused
        /// Waiting for someone to approve the next step.
        case awaitingApproval = "awaiting_approval"
        /// Every step passed: the canary has all the traffic.
        case promoted
        /// A check failed: the canary is back at 0%.
        case rolledBack = "rolled_back"
        /// Stopped by a user: the canary is back at 0%.
        case aborted
        /// A webhook halted it, or a step held too long: the canary is back at 0%.
        case failed

        /// Whether the release is over.
        public var isFinal: Bool { [.promoted, .rolledBack, .aborted, .failed].contains(self) }
    }

    /// The phase.
    public var phase: Phase
    /// The current step (an index of `Release.steps`).
    public var step: Int
    /// The canary's current weight.
    public var weight: Percentage
    /// When the release started.
    public var started: Date
    /// When the current step's weight was set.
    public var stepStarted: Date
    /// The canary's requests since the current step's weight was set.
    public var stepRequests: Int
    /// Since when the current step has been holding for lack of requests.
    public var holdingSince: Date?
    /// Why it holds (`requests`, `worse`, `unjudged`): a new reason is a new decision in the timeline.
    public var holdingReason: String? = nil
    /// Since when the release waits for the canary it merged to run (`nil`: it does not wait); its first step comes
    /// after.
    public var waitingForCanarySince: Date? = nil
    /// The phase to go back to on `resume`.
    public var pausedFrom: Phase?
    /// The webhook the release waits for, and the step it leads to.
    public var pendingWebhook: PendingWebhook?
    /// The step that waits for a user's approval.
    public var approvalFor: Int?
    /// Both routes' figures since the release started, over the same time.
    public var evidence: ReleaseEvidence
    /// Every decision, oldest first (the first and the newest ``ReleaseState/timelineLimit`` − 1 when there are more).
    public var timeline: [ReleaseDecision]

    /// The most decisions the timeline keeps.
    public static let timelineLimit = 500

    /// A webhook call the release waits on.
    public struct PendingWebhook: Sendable, Hashable, Codable {
        /// Which hook.
        public var moment: ReleaseWebhook.Moment
        /// The step it leads to.
        public var step: Int
    }
}

/// Figures of both routes over the same time: what the checks judge.
public struct ReleaseEvidence: Sendable, Hashable, Codable {
    /// The baseline's requests and errors.
    public var baseline = ErrorCounts(requests: 0, errors: 0)
    /// The canary's requests and errors.
    public var canary = ErrorCounts(requests: 0, errors: 0)
    /// The baseline's response times: milliseconds → count.
    public var baselineTimes: [Double: Int] = [:]
    /// The canary's response times: milliseconds → count.
    public var canaryTimes: [Double: Int] = [:]

    /// No figures.
    public init() {}

    /// Adds a period's figures.
    public mutating func add(_ figures: ReleaseFigures) {
        baseline.requests += figures.baseline.requests
        baseline.errors += figures.baseline.errors
        canary.requests += figures.canary.requests
        canary.errors += figures.canary.errors
        for (value, count) in figures.baseline.responseTimes { baselineTimes[value, default: 0] += count }
        for (value, count) in figures.canary.responseTimes { canaryTimes[value, default: 0] += count }
    }
}

/// One period's figures of both routes (Pulse's, per route).
public struct ReleaseFigures: Sendable, Hashable {
    /// One route's figures.
    public struct Route: Sendable, Hashable {
        /// Requests answered.
        public var requests: Int
        /// 5xx answers.
        public var errors: Int
        /// Response times: milliseconds → count.
        public var responseTimes: [Double: Int]

        /// A route's figures.
        public init(requests: Int, errors: Int, responseTimes: [Double: Int] = [:]) {
            self.requests = requests
            self.errors = errors
            self.responseTimes = responseTimes
        }
    }

    /// The baseline's route.
    public var baseline: Route
    /// The canary's route.
    public var canary: Route

    /// Both routes' figures.
    public init(baseline: Route, canary: Route) {
        self.baseline = baseline
        self.canary = canary
    }
}

/// A decision of a release, with the figures that led to it: the release's timeline answers "why did it stop?".
public struct ReleaseDecision: Sendable, Hashable, Codable {
    /// What was decided.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case started, advanced, holding, approvalNeeded = "approval_needed", approved, paused, resumed, promoted
        case rolledBack = "rolled_back", aborted, failed, webhook
        /// The canary the release merged runs: its first step comes next.
        case canaryDeployed = "canary_deployed"
    }

    /// When.
    public var time: Date
    /// What.
    public var kind: Kind
    /// The step it concerns.
    public var step: Int
    /// The canary's weight after it.
    public var weight: Percentage
    /// The sentence an operator reads.
    public var message: String
    /// The checks' judgements at that moment (counts, rates, quantiles, statistics and thresholds).
    public var checks: [CheckJudgement]
}

/// What the executor does for the planner.
public enum ReleaseAction: Sendable, Hashable {
    /// Write the gateway: the canary at `weight` (with `condition` for a cohort), the baseline at the rest.
    case setWeights(canary: Percentage, condition: String?)
    /// Post to the release's webhooks of `moment`; the answer comes back as ``ReleaseInput/webhookAnswered(_:succeeded:message:)``.
    case callWebhooks(ReleaseWebhook.Moment)
    /// Remove the baseline service from the deployment.
    case removeBaseline
    /// Publish the decision as an event.
    case publish(ReleaseDecision)
}

/// What happens to a release.
public enum ReleaseInput: Sendable, Hashable {
    /// A period's figures came in.
    case figures(ReleaseFigures)
    /// A user asked: `pause`, `resume`, `approve`, `promote` or `abort`.
    case command(ReleaseCommand)
    /// The webhooks of a moment answered: all 2xx in time, or not.
    case webhookAnswered(ReleaseWebhook.Moment, succeeded: Bool, message: String)
    /// Someone changed the gateway's weights by hand.
    case manualWeightChange(String)
    /// Time passed (no figures): holding and its wait are decided on it.
    case tick
    /// The release cannot go on (its gateway or a route of it is gone): it fails, saying why.
    case halt(String)
    /// The canary the release merged runs (what of it, in words): the first step comes.
    case canaryDeployed(String)
}

/// The actions of a release's user.
public enum ReleaseCommand: String, Sendable, Hashable, CaseIterable {
    case pause, resume, approve, promote, abort
}
