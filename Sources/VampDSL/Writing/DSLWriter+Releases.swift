import Foundation
import VampModel

extension DSLWriter {
    /// A release in the canonical, expanded form: every default written out.
    static func release(_ release: Release) -> [(String, OutNode)] {
        var out: [(String, OutNode)] = [
            ("name", .string(release.name)),
            ("deployment", .string(release.deployment)),
            ("cluster", .string(release.cluster)),
            ("port", .string(release.port)),
            ("baseline", .string(release.baseline)),
            ("canary", .string(release.canary)),
            ("merge", .bool(release.mergeCanary)),
            ("steps", .list(release.steps.map { step in
                var entries: [(String, OutNode)] = [("weight", .string(step.weight.description))]
                if let condition = step.condition { entries.append(("condition", .string(condition))) }
                entries.append(("approval", .bool(step.approval)))
                return .map(entries)
            })),
            ("step", .map([
                ("minimum_duration", .string(release.minimumDuration.description)),
                ("minimum_requests", .number(String(release.minimumRequests))),
            ])),
        ]
        var checks: [(String, OutNode)] = []
        if let rule = release.checks.errorRate {
            var entries = [allowance(rule.allowance, share: true)]
            if let ceiling = rule.ceiling { entries.append(("ceiling", .string(percent(ceiling)))) }
            checks.append(("error_rate", .map(entries)))
        }
        if let rule = release.checks.responseTime {
            var entries: [(String, OutNode)] = [("percentile", .number(String(format: "%g", rule.percentile))), allowance(rule.allowance, share: false)]
            if let ceiling = rule.ceiling { entries.append(("ceiling", .string(String(format: "%gms", ceiling)))) }
            checks.append(("response_time", .map(entries)))
        }
        out.append(("checks", .map(checks)))
        out.append(("false_rollback_probability", .string(percent(release.falseRollbackProbability))))
        out.append(("insufficient_data", .map([
            ("after", .string(release.insufficientData.after.description)), ("then", .string(release.insufficientData.then.rawValue)),
        ])))
        out.append(("webhooks", .list(release.webhooks.map { hook in
            .map([("url", .string(hook.url)), ("on", .string(hook.moment.rawValue)), ("timeout", .string(hook.timeout.description))])
        })))
        out.append(("on_success", .map([("remove_baseline", .bool(release.removeBaselineOnSuccess))])))
        return out
    }

    static func allowance(_ allowance: ReleaseAllowance, share: Bool) -> (String, OutNode) {
        switch allowance {
        case .increase(let value): ("max_increase", .string(share ? percent(value) : String(format: "%gms", value)))
        case .ratio(let value): ("max_ratio", .number(String(format: "%g", value)))
        }
    }

    /// A share as a percentage: `0.01` → `1%`, `0.005` → `0.5%`.
    static func percent(_ share: Double) -> String { String(format: "%g%%", (share * 100 * 1e9).rounded() / 1e9) }
}
