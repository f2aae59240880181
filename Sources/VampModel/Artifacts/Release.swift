import Foundation

/// An automated canary release (`kind: release`): the weights of one cluster port's gateway move from the baseline
/// service to the canary step by step, while the canary is judged against the baseline over the same time; it is
/// promoted when every step passed, rolled back as soon as a check fails.
public struct Release: Sendable, Hashable {
    /// The release's name.
    public var name: String
    /// The deployment holding both services.
    public var deployment: String
    /// The cluster of both services.
    public var cluster: String
    /// The cluster port whose gateway is shifted.
    public var port: String
    /// The service (breed name) traffic moves from.
    public var baseline: String
    /// The service (breed name) traffic moves to.
    public var canary: String
    /// The canary's weights, in order; the last is normally 100%.
    public var steps: [ReleaseStep]
    /// How long a step lasts at least.
    public var minimumDuration: TimeValue
    /// How many requests the canary must have answered in a step before the release moves on.
    public var minimumRequests: Int
    /// What the canary is judged on.
    public var checks: ReleaseChecks
    /// The probability of rolling back a canary that is within every allowance, over the whole release (α).
    public var falseRollbackProbability: Double
    /// What happens when a step cannot gather its minimum of requests.
    public var insufficientData: InsufficientDataRule
    /// Called before steps, to confirm them, on rollback and on completion.
    public var webhooks: [ReleaseWebhook]
    /// Whether a promoted release removes the baseline service from the deployment.
    public var removeBaselineOnSuccess: Bool
    /// Whether the release merges the canary (a stored breed of that name) into the cluster, with the baseline's
    /// scale and no traffic, and waits for its instances before its first step (`merge: true`).
    public var mergeCanary: Bool

    /// A release with Vamp's defaults for what is not given.
    public init(
        name: String, deployment: String, cluster: String, port: String, baseline: String, canary: String,
        steps: [ReleaseStep], minimumDuration: TimeValue = TimeValue(seconds: 30)!, minimumRequests: Int = 100,
        checks: ReleaseChecks = ReleaseChecks(), falseRollbackProbability: Double = 0.01,
        insufficientData: InsufficientDataRule = InsufficientDataRule(), webhooks: [ReleaseWebhook] = [], removeBaselineOnSuccess: Bool = false,
        mergeCanary: Bool = false
    ) {
        self.name = name
        self.deployment = deployment
        self.cluster = cluster
        self.port = port
        self.baseline = baseline
        self.canary = canary
        self.steps = steps
        self.minimumDuration = minimumDuration
        self.minimumRequests = minimumRequests
        self.checks = checks
        self.falseRollbackProbability = falseRollbackProbability
        self.insufficientData = insufficientData
        self.webhooks = webhooks
        self.removeBaselineOnSuccess = removeBaselineOnSuccess
        self.mergeCanary = mergeCanary
    }
}

/// One step of a release: the canary's weight, optionally only for a cohort, optionally after an approval.
public struct ReleaseStep: Sendable, Hashable {
    /// The canary's weight during the step.
    public var weight: Percentage
    /// A route condition (`has cookie beta`) that sends only a cohort to the canary during this step.
    public var condition: String?
    /// The release waits before this step until someone approves it.
    public var approval: Bool

    /// A step of `weight`.
    public init(weight: Percentage, condition: String? = nil, approval: Bool = false) {
        self.weight = weight
        self.condition = condition
        self.approval = approval
    }
}

/// How much worse than the baseline a canary may be.
public enum ReleaseAllowance: Sendable, Hashable {
    /// Up to this much more: a share for error rates (`0.01`: one percentage point), milliseconds for response times.
    case increase(Double)
    /// Up to this many times the baseline's figure.
    case ratio(Double)
}

/// The checks of a release; a `nil` check is not made.
public struct ReleaseChecks: Sendable, Hashable {
    /// The share of 5xx answers.
    public var errorRate: ErrorRateRule?
    /// A percentile of the response time.
    public var responseTime: ResponseTimeRule?

    /// Checks; by default the error rate may not increase at all and p99 may not exceed 1.2 times the baseline's.
    public init(
        errorRate: ErrorRateRule? = ErrorRateRule(allowance: .increase(0)),
        responseTime: ResponseTimeRule? = ResponseTimeRule(percentile: 99, allowance: .ratio(1.2))
    ) {
        self.errorRate = errorRate
        self.responseTime = responseTime
    }

    /// The error-rate rule: an allowance over the baseline's rate and an optional ceiling (a share).
    public struct ErrorRateRule: Sendable, Hashable {
        /// How much higher than the baseline's the canary's may be.
        public var allowance: ReleaseAllowance
        /// A rate the canary's may never exceed (`0.05`: 5%).
        public var ceiling: Double?

        /// An error-rate rule.
        public init(allowance: ReleaseAllowance, ceiling: Double? = nil) {
            self.allowance = allowance
            self.ceiling = ceiling
        }
    }

    /// The response-time rule: a percentile, an allowance over the baseline's, an optional ceiling (ms).
    public struct ResponseTimeRule: Sendable, Hashable {
        /// The percentile compared (50, 95, 99).
        public var percentile: Double
        /// How much slower than the baseline's the canary's may be.
        public var allowance: ReleaseAllowance
        /// A response time (ms) the canary's percentile may never exceed.
        public var ceiling: Double?

        /// A response-time rule.
        public init(percentile: Double, allowance: ReleaseAllowance, ceiling: Double? = nil) {
            self.percentile = percentile
            self.allowance = allowance
            self.ceiling = ceiling
        }
    }
}

/// What a release does when a step cannot gather its minimum of requests: it holds, and after `after` it fails or
/// keeps holding. It never advances or promotes without the data.
public struct InsufficientDataRule: Sendable, Hashable {
    /// What to do once the wait is over.
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// The release fails: the canary goes back to 0%.
        case fail
        /// The release keeps holding at its step.
        case hold
    }

    /// How long a step may hold for lack of data.
    public var after: TimeValue
    /// Then.
    public var then: Outcome

    /// Ten minutes, then fail.
    public init(after: TimeValue = TimeValue(seconds: 600)!, then: Outcome = .fail) {
        self.after = after
        self.then = then
    }
}

/// A URL a release posts to (the release, the step and the figures); a non-2xx answer or a timeout halts the release.
public struct ReleaseWebhook: Sendable, Hashable {
    /// When the hook is called.
    public enum Moment: String, Sendable, Hashable, CaseIterable, Codable {
        /// Before each step's weight is set.
        case beforeStep = "before_step"
        /// When a step passed, before the next: the hook confirms the step.
        case confirmStep = "confirm_step"
        /// After a rollback.
        case rollback
        /// After promotion.
        case completion
    }

    /// Where to post.
    public var url: String
    /// When.
    public var moment: Moment
    /// How long the hook may take.
    public var timeout: TimeValue

    /// A webhook.
    public init(url: String, moment: Moment, timeout: TimeValue = TimeValue(seconds: 10)!) {
        self.url = url
        self.moment = moment
        self.timeout = timeout
    }
}
