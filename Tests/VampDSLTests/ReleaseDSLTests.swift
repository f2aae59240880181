import Foundation
import Testing
import VampDSL
import VampModel

/// `kind: release` as the issue writes it: read, validated, written in the expanded form, read back the same.
@Suite("DSL: releases")
struct ReleaseDSLTests {
    static let issueExample = """
        kind: release
        name: sava-1.1
        deployment: sava
        cluster: web
        port: web
        baseline: sava:1.0
        canary: sava:1.1
        steps: [5%, 25%, 50%, 100%]
        step: {minimum_duration: 30s, minimum_requests: 200}
        checks:
          error_rate: {max_increase: 1%}
          response_time: {percentile: 99, max_ratio: 1.2}
        false_rollback_probability: 1%
        insufficient_data: {after: 10m, then: fail}
        on_success: {remove_baseline: true}
        """

    @Test("the issue's example reads as written, validates, and round-trips through the canonical form")
    func example() throws {
        let document = try #require(try DSLReader.read(Self.issueExample).first)
        guard case .release(let release) = document.artifact else { Issue.record("read \(document.artifact.kind)"); return }
        #expect(release.steps.map(\.weight.value) == [5, 25, 50, 100])
        #expect(release.minimumDuration.seconds == 30 && release.minimumRequests == 200)
        #expect(release.checks.errorRate == .init(allowance: .increase(0.01)))
        #expect(release.checks.responseTime == .init(percentile: 99, allowance: .ratio(1.2)))
        #expect(release.falseRollbackProbability == 0.01)
        #expect(release.insufficientData == InsufficientDataRule(after: TimeValue(seconds: 600)!, then: .fail))
        #expect(release.removeBaselineOnSuccess)
        #expect(Validation.validate(document.artifact).isEmpty)
        let written = DSLWriter.yaml(document.artifact)
        let again = try #require(try DSLReader.read(written).first)
        #expect(again.artifact == document.artifact, "\(written)")
        #expect(written.contains("max_increase") && written.contains("1%") && written.contains("false_rollback_probability"), "\(written)")
    }

    @Test("cohort steps, approvals, webhooks, ceilings and absolute response-time allowances")
    func fullForm() throws {
        let yaml = """
            kind: release
            name: r
            deployment: sava
            cluster: web
            port: web
            baseline: sava:1.0
            canary: sava:1.1
            steps:
              - {weight: 100%, condition: has cookie beta}
              - {weight: 10%, approval: true}
            checks:
              error_rate: {max_ratio: 1.5, ceiling: 0.5%}
              response_time: {percentile: p95, max_increase: 50ms, ceiling: 1.5s}
            webhooks:
              - {url: "http://127.0.0.1:9000/confirm", on: confirm_step, timeout: 5s}
            """
        let document = try #require(try DSLReader.read(yaml).first)
        guard case .release(let release) = document.artifact else { Issue.record("not a release"); return }
        #expect(release.steps == [ReleaseStep(weight: .full, condition: "has cookie beta"), ReleaseStep(weight: Percentage(10)!, approval: true)])
        #expect(release.checks.errorRate == .init(allowance: .ratio(1.5), ceiling: 0.005))
        #expect(release.checks.responseTime == .init(percentile: 95, allowance: .increase(50), ceiling: 1500))
        #expect(release.webhooks == [ReleaseWebhook(url: "http://127.0.0.1:9000/confirm", moment: .confirmStep, timeout: TimeValue(seconds: 5)!)])
        // Steps go up: 100% then 10% is refused by validation, naming the step.
        let errors = Validation.validate(document.artifact)
        #expect(errors.contains { $0.path == "steps[1]" && $0.message.contains("steps go up") }, "\(errors)")
        #expect(try DSLReader.read(DSLWriter.yaml(document.artifact)).first?.artifact == document.artifact)
    }

    @Test("bad input names the field and the line")
    func errors() throws {
        let cases: [(String, String, String)] = [
            ("steps: [5]", "steps[0]", "'%' sign"),
            ("checks: {error_rate: {max_increase: 1}}", "checks.error_rate.max_increase", "percentage"),
            ("checks: {error_rate: {max_increase: 1%, max_ratio: 2}}", "checks.error_rate.max_ratio", "not both"),
            ("checks: {latency: {}}", "checks.latency", "not a field"),
            ("false_rollback_probability: often", "false_rollback_probability", "percentage"),
            ("insufficient_data: {then: promote}", "insufficient_data.then", "fail or hold"),
            ("webhooks: [{url: x, on: always}]", "webhooks[0].on", "before_step"),
        ]
        let base = "kind: release\nname: r\ndeployment: d\ncluster: c\nport: p\nbaseline: a:1\ncanary: a:2\n"
        for (extra, path, fragment) in cases {
            let yaml = base + (extra.hasPrefix("steps") ? "" : "steps: [50%]\n") + extra + "\n"
            do {
                _ = try DSLReader.read(yaml)
                Issue.record("read \(extra)")
            } catch {
                let match = error.errors.first { $0.path == path }
                #expect(match?.message.contains(fragment) == true, "\(extra): \(error)")
                #expect(match?.line != nil, "\(extra)")
            }
        }
        let same = try #require(try DSLReader.read(base.replacingOccurrences(of: "canary: a:2", with: "canary: a:1") + "steps: [50%]\n").first)
        #expect(Validation.validate(same.artifact).contains { $0.path == "canary" })
        let nothing = try #require(try DSLReader.read(base + "steps: [50%]\nchecks: {}\n").first)
        #expect(Validation.validate(nothing.artifact).contains { $0.path == "checks" })
        // Sizes nobody needs: 101 steps, 17 webhooks.
        let steps = "steps: [" + (0...100).map { "\(min(100, 1 + $0))%" }.joined(separator: ", ") + "]\n"
        let many = try #require(try DSLReader.read(base + steps).first)
        #expect(Validation.validate(many.artifact).contains { $0.path == "steps" && $0.message.contains("at most 100") })
        let hooks = "webhooks:\n" + String(repeating: "  - {url: \"http://h/\", on: rollback}\n", count: 17)
        let hooked = try #require(try DSLReader.read(base + "steps: [50%]\n" + hooks).first)
        #expect(Validation.validate(hooked.artifact).contains { $0.path == "webhooks" && $0.message.contains("at most 16") })
    }
}
