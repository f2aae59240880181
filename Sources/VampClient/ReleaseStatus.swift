public import Foundation
public import VampModel

/// Where a release is: its state, step and weight, the evidence gathered so far, the latest judgement of every
/// check, and every decision taken (`status` of `GET /api/v1/releases/{name}`).
///
/// It reads and writes the server's JSON (snake_case keys, times in ISO 8601 with milliseconds), so a plain
/// `JSONDecoder` decodes it.
public struct ReleaseStatus: Sendable, Hashable, Codable {
    /// A release's state; the last four are final.
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Moving through its steps.
        case progressing
        /// Waiting at its step for enough requests to judge (insufficient data).
        case holding
        /// Paused by someone (or by a manual weight change); `resume` continues.
        case paused
        /// Waiting before a step until someone approves it.
        case awaitingApproval = "awaiting_approval"
        /// Every step passed: the canary has all the traffic.
        case promoted
        /// A check failed: the canary went back to 0%.
        case rolledBack = "rolled_back"
        /// Someone aborted it: the canary went back to 0%.
        case aborted
        /// It could not go on (no data in time, a webhook refused): the canary went back to 0%.
        case failed

        /// Whether the release is over (promoted, rolled back, aborted or failed).
        public var isFinal: Bool {
            switch self {
            case .promoted, .rolledBack, .aborted, .failed: true
            case .progressing, .holding, .paused, .awaitingApproval: false
            }
        }
    }

    /// The release's state.
    public var state: State
    /// The current step, from 1.
    public var step: Int
    /// How many steps the release has.
    public var steps: Int
    /// The canary's current weight.
    public var weight: Percentage
    /// When the release started.
    public var started: Date
    /// When its status last changed.
    public var updated: Date
    /// When the current step started.
    public var stepStarted: Date?
    /// The canary's requests in the current step.
    public var stepRequests: Int?
    /// The step waiting for approval (only in `awaitingApproval`).
    public var awaitingApproval: Int?
    /// The webhook call pending (`before_step`, `confirm_step`, …), while one is.
    public var waitingForWebhook: String?
    /// Since when the release holds for lack of data, while it does.
    public var holdingSince: Date?
    /// Both routes' figures since the start, over the same seconds.
    public var evidence: Evidence?
    /// The latest judgement of every check.
    public var checks: [Check]
    /// Every decision, oldest first.
    public var timeline: [TimelineEntry]

    /// Both routes' figures over the same time.
    public struct Evidence: Sendable, Hashable, Codable {
        /// The baseline's route.
        public var baseline: Figures
        /// The canary's route.
        public var canary: Figures
    }

    /// One route's figures: requests, 5xx answers and response-time percentiles (ms; `nil` without requests).
    public struct Figures: Sendable, Hashable, Codable {
        /// Requests answered.
        public var requests: Int
        /// Answers with a 5xx status.
        public var errors: Int
        /// `errors / requests`.
        public var errorRate: Double?
        /// The median response time.
        public var p50: Double?
        /// The 95th percentile.
        public var p95: Double?
        /// The 99th percentile.
        public var p99: Double?

        enum CodingKeys: String, CodingKey {
            case requests, errors, errorRate = "error_rate", p50, p95, p99
        }
    }

    /// One check's judgement: its figures, the test statistic against its threshold, and why.
    public struct Check: Sendable, Hashable, Codable {
        /// The check: `error_rate` or `response_time`.
        public var check: String
        /// `pass`, `fail`, `holding` or `not_judged`.
        public var outcome: String
        /// The canary's observed figure (an error rate, or a percentile in ms).
        public var canary: Double?
        /// The baseline's observed figure.
        public var baseline: Double?
        /// The statistic compared with the threshold.
        public var statistic: Double?
        /// What the statistic must exceed for the check to fail.
        public var threshold: Double?
        /// The judgement in a sentence.
        public var explanation: String

        enum CodingKeys: String, CodingKey {
            case check, outcome, canary, baseline, statistic, threshold, explanation
        }
    }

    /// One decision of the release with the figures that led to it.
    public struct TimelineEntry: Sendable, Hashable, Codable {
        /// When it was taken.
        public var time: Date
        /// What was decided: `started`, `advanced`, `holding`, `approval_needed`, `approved`, `paused`, `resumed`,
        /// `promoted`, `rolled_back`, `aborted`, `failed` or `webhook`.
        public var decision: String
        /// The step after the decision.
        public var step: Int
        /// The canary's weight after the decision.
        public var weight: Percentage
        /// The decision in a sentence.
        public var message: String
        /// The checks' judgements behind it.
        public var checks: [Check]

        enum CodingKeys: String, CodingKey {
            case time, decision, step, weight, message, checks
        }

        /// Reads an entry of the server's JSON.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            time = try container.decodeTime(.time)
            decision = try container.decode(String.self, forKey: .decision)
            step = try container.decode(Int.self, forKey: .step)
            weight = try container.decodePercentage(.weight)
            message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
            checks = try container.decodeIfPresent([Check].self, forKey: .checks) ?? []
        }

        /// Writes the entry as the server does.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(ReleaseStatus.text(time), forKey: .time)
            try container.encode(decision, forKey: .decision)
            try container.encode(step, forKey: .step)
            try container.encode(weight.description, forKey: .weight)
            try container.encode(message, forKey: .message)
            try container.encode(checks, forKey: .checks)
        }
    }

    enum CodingKeys: String, CodingKey {
        case state, step, steps, weight, started, updated, evidence, checks, timeline
        case stepStarted = "step_started", stepRequests = "step_requests"
        case awaitingApproval = "awaiting_approval", waitingForWebhook = "waiting_for_webhook", holdingSince = "holding_since"
    }

    /// Reads the server's JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        state = try container.decode(State.self, forKey: .state)
        step = try container.decode(Int.self, forKey: .step)
        steps = try container.decode(Int.self, forKey: .steps)
        weight = try container.decodePercentage(.weight)
        started = try container.decodeTime(.started)
        updated = try container.decodeTime(.updated)
        stepStarted = try container.decodeIfPresent(String.self, forKey: .stepStarted).map { try Self.time($0, .stepStarted, container) }
        stepRequests = try container.decodeIfPresent(Int.self, forKey: .stepRequests)
        awaitingApproval = try container.decodeIfPresent(Int.self, forKey: .awaitingApproval)
        waitingForWebhook = try container.decodeIfPresent(String.self, forKey: .waitingForWebhook)
        holdingSince = try container.decodeIfPresent(String.self, forKey: .holdingSince).map { try Self.time($0, .holdingSince, container) }
        evidence = try container.decodeIfPresent(Evidence.self, forKey: .evidence)
        checks = try container.decodeIfPresent([Check].self, forKey: .checks) ?? []
        timeline = try container.decodeIfPresent([TimelineEntry].self, forKey: .timeline) ?? []
    }

    /// Writes the status as the server does.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state, forKey: .state)
        try container.encode(step, forKey: .step)
        try container.encode(steps, forKey: .steps)
        try container.encode(weight.description, forKey: .weight)
        try container.encode(Self.text(started), forKey: .started)
        try container.encode(Self.text(updated), forKey: .updated)
        try container.encodeIfPresent(stepStarted.map(Self.text), forKey: .stepStarted)
        try container.encodeIfPresent(stepRequests, forKey: .stepRequests)
        try container.encodeIfPresent(awaitingApproval, forKey: .awaitingApproval)
        try container.encodeIfPresent(waitingForWebhook, forKey: .waitingForWebhook)
        try container.encodeIfPresent(holdingSince.map(Self.text), forKey: .holdingSince)
        try container.encodeIfPresent(evidence, forKey: .evidence)
        try container.encode(checks, forKey: .checks)
        try container.encode(timeline, forKey: .timeline)
    }

    /// `2026-12-06T20:41:03.120Z`: rounded to the millisecond (the format style truncates, so `.002` read as a
    /// `Double` a hair below would be written `.001`).
    static func text(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let seconds = (milliseconds / 1000).rounded(.down)
        let whole = Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle())
        return whole.dropLast() + String(format: ".%03dZ", Int(milliseconds - seconds * 1000))
    }

    static func time<Key: CodingKey>(_ text: String, _ key: Key, _ container: KeyedDecodingContainer<Key>) throws -> Date {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "'\(text)' is not an ISO 8601 time")
    }
}

extension KeyedDecodingContainer {
    func decodeTime(_ key: Key) throws -> Date {
        try ReleaseStatus.time(try decode(String.self, forKey: key), key, self)
    }

    func decodePercentage(_ key: Key) throws -> Percentage {
        let text = try decode(String.self, forKey: key)
        guard let percentage = Percentage(parsing: text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(text)' is not a weight such as 25%")
        }
        return percentage
    }
}
