import VampModel

extension ReadContext {
    /// `kind: release`: the deployment, cluster and port; baseline and canary (`merge: true`: merged by the release); steps (`[5%, 25%]` or
    /// `{weight, condition, approval}` each); `step: {minimum_duration, minimum_requests}`; `checks`; the false-rollback
    /// probability; `insufficient_data: {after, then}`; `webhooks`; `on_success: {remove_baseline}`.
    func release(_ node: DSLNode, _ path: String) throws -> Release {
        let reader = try map(node, path)
        name = try self.name(try reader.require("name"), "name")
        let deployment = recover { try self.name(try reader.require("deployment"), "deployment") } ?? ""
        let cluster = recover { try string(try reader.require("cluster"), "cluster") } ?? ""
        let port = recover { try string(try reader.require("port"), "port") } ?? ""
        let baseline = recover { try self.name(try reader.require("baseline"), "baseline") } ?? ""
        let canary = recover { try self.name(try reader.require("canary"), "canary") } ?? ""
        let steps = recover { try list(try reader.require("steps"), "steps") }.map { items in
            each(items) { index, item in try releaseStep(item, "steps[\(index)]") }
        } ?? []
        var release = Release(name: name!, deployment: deployment, cluster: cluster, port: port, baseline: baseline, canary: canary, steps: steps)
        if let merge = try reader.take("merge") { release.mergeCanary = try bool(merge, "merge") }
        if let step = try reader.take("step") {
            let step = try map(step, "step")
            if let duration = try step.take("minimum_duration") { release.minimumDuration = try time(duration, "step.minimum_duration") }
            if let requests = try step.take("minimum_requests") {
                release.minimumRequests = try int(requests, "step.minimum_requests", range: 1...Int(Int32.max))
            }
            step.finish()
        }
        if let checks = try reader.take("checks") { release.checks = try releaseChecks(checks, "checks") }
        if let alpha = try reader.take("false_rollback_probability") {
            release.falseRollbackProbability = try share(alpha, "false_rollback_probability")
        }
        if let insufficient = try reader.take("insufficient_data") {
            let rule = try map(insufficient, "insufficient_data")
            if let after = try rule.take("after") { release.insufficientData.after = try time(after, "insufficient_data.after") }
            if let then = try rule.take("then") {
                let text = try string(then, "insufficient_data.then")
                guard let outcome = InsufficientDataRule.Outcome(rawValue: text) else {
                    throw error(.invalidValue, "'\(Self.short(text))' is not fail or hold", path: "insufficient_data.then", at: then)
                }
                release.insufficientData.then = outcome
            }
            rule.finish()
        }
        if let hooks = try reader.take("webhooks") {
            release.webhooks = each(try list(hooks, "webhooks")) { index, item in try webhook(item, "webhooks[\(index)]") }
        }
        if let success = try reader.take("on_success") {
            let rule = try map(success, "on_success")
            if let remove = try rule.take("remove_baseline") { release.removeBaselineOnSuccess = try bool(remove, "on_success.remove_baseline") }
            rule.finish()
        }
        // `status` is what the server says of a running release (GET); a document read back and written again keeps it.
        reader.ignore("kind", "status")
        reader.finish()
        return release
    }

    func releaseStep(_ node: DSLNode, _ path: String) throws -> ReleaseStep {
        if case .scalar = node { return ReleaseStep(weight: try percentage(node, path)) }
        let reader = try map(node, path)
        var step = ReleaseStep(weight: try percentage(try reader.require("weight"), join(path, "weight")))
        step.condition = try optionalString(try reader.take("condition"), join(path, "condition"))
        if let approval = try reader.take("approval") { step.approval = try bool(approval, join(path, "approval")) }
        reader.finish()
        return step
    }

    func releaseChecks(_ node: DSLNode, _ path: String) throws -> ReleaseChecks {
        let reader = try map(node, path)
        var checks = ReleaseChecks(errorRate: nil, responseTime: nil)
        if let errors = try reader.take("error_rate") {
            let p = join(path, "error_rate")
            let rule = try map(errors, p)
            let allowance = try releaseAllowance(rule, p, share: true) ?? .increase(0)
            let ceiling = try rule.take("ceiling").map { try share($0, join(p, "ceiling")) }
            rule.finish()
            checks.errorRate = .init(allowance: allowance, ceiling: ceiling)
        }
        if let times = try reader.take("response_time") {
            let p = join(path, "response_time")
            let rule = try map(times, p)
            let percentile = try rule.take("percentile").map { try releasePercentile($0, join(p, "percentile")) } ?? 99
            let allowance = try releaseAllowance(rule, p, share: false) ?? .ratio(1.2)
            let ceiling = try rule.take("ceiling").map { try milliseconds($0, join(p, "ceiling")) }
            rule.finish()
            checks.responseTime = .init(percentile: percentile, allowance: allowance, ceiling: ceiling)
        }
        reader.finish()
        return checks
    }

    /// `max_increase` (a share, or milliseconds) or `max_ratio`; not both.
    func releaseAllowance(_ rule: MapReader, _ path: String, share isShare: Bool) throws -> ReleaseAllowance? {
        let increase = try rule.take("max_increase")
        let ratio = try rule.take("max_ratio")
        if increase != nil, let ratio {
            throw error(.invalidValue, "give max_increase or max_ratio, not both", path: join(path, "max_ratio"), at: ratio)
        }
        if let increase {
            return .increase(isShare ? try share(increase, join(path, "max_increase")) : try milliseconds(increase, join(path, "max_increase")))
        }
        if let ratio { return .ratio(try double(ratio, join(path, "max_ratio"))) }
        return nil
    }

    /// `1%`, `0.5%`: a share written as a percentage.
    func share(_ node: DSLNode, _ path: String) throws -> Double {
        let text = String(try string(node, path).trimmedSpaces)
        guard text.hasSuffix("%"), let value = Double(text.dropLast().trimmedSpaces), value.isFinite, value >= 0, value <= 100 else {
            throw error(.invalidValue, "expected a percentage such as 1% or 0.5% but found '\(Self.short(text))'", path: path, at: node)
        }
        return value / 100
    }

    /// `50ms`, `1.5s` or a number of milliseconds.
    func milliseconds(_ node: DSLNode, _ path: String) throws -> Double {
        let text = try string(node, path).trimmedSpaces.lowercased()
        let (digits, factor): (Substring, Double) =
            text.hasSuffix("ms") ? (text.dropLast(2), 1) : text.hasSuffix("s") ? (text.dropLast(), 1000) : (Substring(text), 1)
        guard let value = Double(digits.trimmedSpaces), value.isFinite, value >= 0 else {
            throw error(.invalidValue, "expected a response time such as 50ms or 1.5s but found '\(Self.short(text))'", path: path, at: node)
        }
        return value * factor
    }

    /// `99`, `99.9` or `p99`.
    func releasePercentile(_ node: DSLNode, _ path: String) throws -> Double {
        let text = try string(node, path).trimmedSpaces.lowercased()
        guard let value = Double(text.hasPrefix("p") ? String(text.dropFirst()) : text), value > 0, value < 100 else {
            throw error(.invalidValue, "expected a percentile such as 99 or p95 but found '\(Self.short(text))'", path: path, at: node)
        }
        return value
    }

    func webhook(_ node: DSLNode, _ path: String) throws -> ReleaseWebhook {
        let reader = try map(node, path)
        let url = try string(try reader.require("url"), join(path, "url"))
        let on = try reader.require("on")
        let text = try string(on, join(path, "on"))
        guard let moment = ReleaseWebhook.Moment(rawValue: text) else {
            throw error(.invalidValue, "'\(Self.short(text))' is not one of \(ReleaseWebhook.Moment.allCases.map(\.rawValue).joined(separator: ", "))", path: join(path, "on"), at: on)
        }
        var hook = ReleaseWebhook(url: url, moment: moment)
        if let timeout = try reader.take("timeout") { hook.timeout = try time(timeout, join(path, "timeout")) }
        reader.finish()
        return hook
    }
}
