import Foundation

extension Validation {
    /// Validates a release: names, steps that only go up, allowances, probabilities, webhooks.
    public static func validate(_ release: Release) -> [VampError] {
        var c = ErrorCollector(kind: "release", name: release.name)
        c.checkArtifactName(release.name, "name")
        c.checkArtifactName(release.deployment, "deployment")
        for (value, field) in [(release.cluster, "cluster"), (release.port, "port")] { c.checkTraitName(value, field) }
        c.checkArtifactName(release.baseline, "baseline")
        c.checkArtifactName(release.canary, "canary")
        if release.baseline == release.canary {
            c.add(.invalidValue, "canary", "the canary is the baseline ('\(release.canary)'); name the service traffic moves to")
        }
        if release.steps.isEmpty { c.add(.missingField, "steps", "a release needs at least one step, such as [5%, 25%, 50%, 100%]") }
        if release.steps.count > Limits.stepsPerRelease {
            c.add(.limit, "steps", "the release has \(release.steps.count) steps; at most \(Limits.stepsPerRelease) are allowed (its weights are whole percentages that only go up)")
        }
        if release.webhooks.count > Limits.webhooksPerRelease {
            c.add(.limit, "webhooks", "the release has \(release.webhooks.count) webhooks; at most \(Limits.webhooksPerRelease) are allowed")
        }
        for (index, step) in release.steps.enumerated() {
            let path = "steps[\(index)]"
            if step.weight.value == 0 { c.add(.invalidValue, path, "a step of 0% sends the canary nothing; start at 1% or more") }
            if index > 0, step.weight < release.steps[index - 1].weight {
                c.add(.invalidValue, path, "steps go up: \(step.weight) comes after \(release.steps[index - 1].weight)")
            }
            if let condition = step.condition {
                do { _ = try ConditionParser.parse(condition) } catch {
                    c.add(.condition, path + ".condition", "the condition '\(condition)' does not parse: \(error)")
                }
            }
        }
        if release.minimumRequests < 1 { c.add(.invalidValue, "step.minimum_requests", "give at least 1 request") }
        if !(release.falseRollbackProbability > 0 && release.falseRollbackProbability <= 0.5) {
            c.add(.invalidValue, "false_rollback_probability", "a probability above 0% and at most 50%, such as 1%")
        }
        if release.checks.errorRate == nil, release.checks.responseTime == nil {
            c.add(.invalidValue, "checks", "a release judges its canary on at least one check: error_rate or response_time")
        }
        if let rule = release.checks.errorRate {
            checkAllowance(rule.allowance, "checks.error_rate", share: true, into: &c)
            if let ceiling = rule.ceiling, !(ceiling > 0 && ceiling <= 1) { c.add(.invalidValue, "checks.error_rate.ceiling", "a share above 0% and at most 100%") }
        }
        if let rule = release.checks.responseTime {
            checkAllowance(rule.allowance, "checks.response_time", share: false, into: &c)
            if !(rule.percentile > 0 && rule.percentile < 100) { c.add(.invalidValue, "checks.response_time.percentile", "a percentile above 0 and below 100, such as 99") }
            if let ceiling = rule.ceiling, !(ceiling > 0) { c.add(.invalidValue, "checks.response_time.ceiling", "a response time above 0 ms") }
        }
        for (index, hook) in release.webhooks.enumerated() {
            let url = URL(string: hook.url)
            if !["http", "https"].contains(url?.scheme ?? "") || url?.host == nil {
                c.add(.invalidValue, "webhooks[\(index)].url", "an http:// or https:// address, not '\(hook.url)'")
            }
            if hook.timeout.seconds < 1 { c.add(.invalidValue, "webhooks[\(index)].timeout", "at least 1s") }
        }
        return c.errors
    }

    static func checkAllowance(_ allowance: ReleaseAllowance, _ path: String, share: Bool, into c: inout ErrorCollector) {
        switch allowance {
        case .increase(let value):
            if !(value >= 0) || (share && value > 1) {
                c.add(.invalidValue, path + ".max_increase", share ? "a share from 0% to 100%" : "a response time of 0 ms or more")
            }
        case .ratio(let value):
            if !(value >= 1) { c.add(.invalidValue, path + ".max_ratio", "a ratio of 1 or more (1.2: 20% more than the baseline's)") }
        }
    }
}
