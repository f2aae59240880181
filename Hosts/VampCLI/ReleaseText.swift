import Foundation
import VampClient
import VampDSL
import VampModel

/// How `vamp release` prints a release: a header (state, step, weight, evidence, checks) and the timeline as a
/// table whose columns have fixed widths, so that `--watch` can print rows as they come under the same header.
enum ReleaseText {
    /// The timeline's columns and their widths (the widest time, decision, step and weight).
    static let columns: [(title: String, width: Int)] = [("TIME", 24), ("DECISION", 15), ("STEP", 5), ("WEIGHT", 6), ("MESSAGE", 0)]

    /// `sava-1.1: progressing, step 2/4, canary 25%`, what `start` and the actions print.
    static func summary(_ report: ReleaseReport) -> String {
        guard let status = report.status else { return "\(report.release.name): not started" }
        var text = "\(report.release.name): \(status.state.rawValue), step \(status.step)/\(status.steps), canary \(status.weight)"
        if let step = status.awaitingApproval { text += " (step \(step) waits for approval: vamp release approve \(report.release.name))" }
        return text
    }

    /// The header of `status`: what the release shifts, its state, step, weight, evidence and checks.
    static func header(_ report: ReleaseReport) -> String {
        let release = report.release
        var lines: [(String, String)] = [
            ("RELEASE", "\(release.name) (gateway \(release.deployment)/\(release.cluster)/\(release.port): \(release.baseline) → \(release.canary))"),
        ]
        guard let status = report.status else {
            return labelled(lines + [("STATE", "not started")])
        }
        var state = status.state.rawValue
        if let step = status.awaitingApproval { state += " (step \(step) waits for approval)" }
        if let hook = status.waitingForWebhook { state += " (waiting for the \(hook) webhook)" }
        if let since = status.holdingSince { state += " (since \(time(since)))" }
        lines.append(("STATE", state))
        var step = "\(status.step)/\(status.steps)"
        if let requests = status.stepRequests { step += " (\(requests) canary requests in this step)" }
        lines.append(("STEP", step))
        lines.append(("WEIGHT", status.weight.description))
        if let evidence = status.evidence {
            lines.append(("EVIDENCE", "baseline " + figures(evidence.baseline)))
            lines.append(("", "canary   " + figures(evidence.canary)))
        }
        for (index, check) in status.checks.enumerated() {
            lines.append((index == 0 ? "CHECKS" : "", self.check(check)))
        }
        return labelled(lines)
    }

    /// The timeline's header row.
    static func timelineHeader() -> String { row(columns.map(\.title)) }

    /// One timeline row: time, decision, step x/y, weight, message.
    static func timelineRow(_ entry: ReleaseStatus.TimelineEntry, steps: Int) -> String {
        row([time(entry.time), entry.decision, "\(entry.step)/\(steps)", entry.weight.description, entry.message])
    }

    /// The whole `status` output: header, a blank line, the timeline.
    static func status(_ report: ReleaseReport) -> String {
        var text = header(report) + "\n" + timelineHeader()
        if let status = report.status {
            text += status.timeline.map { timelineRow($0, steps: status.steps) }.joined()
        }
        return text
    }

    /// `1000 requests, 3 errors (0.30%), p50 12 ms, p95 30 ms, p99 48 ms`.
    static func figures(_ figures: ReleaseStatus.Figures) -> String {
        var text = "\(figures.requests) requests, \(figures.errors) errors"
        if let rate = figures.errorRate { text += " (\(percent(rate)))" }
        let times = [("p50", figures.p50), ("p95", figures.p95), ("p99", figures.p99)].compactMap { name, value in
            value.map { "\(name) \(number($0)) ms" }
        }
        return ([text] + times).joined(separator: ", ")
    }

    /// `error_rate pass: canary 0.40%, baseline 0.30%; statistic 0.001 ≤ threshold 0.01. <explanation>`.
    static func check(_ check: ReleaseStatus.Check) -> String {
        let rate = check.check == "error_rate"
        func value(_ figure: Double) -> String { rate ? percent(figure) : number(figure) + " ms" }
        var parts: [String] = []
        if let canary = check.canary { parts.append("canary \(value(canary))") }
        if let baseline = check.baseline { parts.append("baseline \(value(baseline))") }
        var text = "\(check.check) \(check.outcome)"
        if !parts.isEmpty { text += ": " + parts.joined(separator: ", ") }
        if let statistic = check.statistic, let threshold = check.threshold {
            text += "; statistic \(number(statistic)) \(statistic > threshold ? ">" : "≤") threshold \(number(threshold))"
        } else if let threshold = check.threshold {
            text += "; threshold \(number(threshold))"
        }
        return check.explanation.isEmpty ? text : text + ". " + check.explanation
    }

    /// `vamp release list`: NAME, GATEWAY, BASELINE, CANARY, STATE, STEP, WEIGHT, UPDATED.
    static func list(_ reports: [ReleaseReport]) -> String {
        table(["NAME", "GATEWAY", "BASELINE", "CANARY", "STATE", "STEP", "WEIGHT", "UPDATED"], reports.map { report in
            let release = report.release
            let status = report.status
            return [
                release.name, "\(release.deployment)/\(release.cluster)/\(release.port)", release.baseline, release.canary,
                status?.state.rawValue ?? "-", status.map { "\($0.step)/\($0.steps)" } ?? "-", status?.weight.description ?? "-",
                status.map { time($0.updated) } ?? "-",
            ]
        })
    }

    /// What an action's answer starts with: `paused`, `resumed`, `approved`, `promoted`, `aborted`.
    static func pastTense(_ action: ReleaseControl) -> String {
        switch action {
        case .pause: "paused"
        case .resume: "resumed"
        case .approve: "approved"
        case .promote: "promoted"
        case .abort: "aborted"
        }
    }

    /// The exit code of `--watch` for a final state: 0 promoted, 3 rolled back, 4 aborted, 5 failed.
    static func exitCode(_ state: ReleaseStatus.State) -> Int32 {
        switch state {
        case .promoted: 0
        case .rolledBack: 3
        case .aborted: 4
        case .failed: 5
        case .progressing, .holding, .paused, .awaitingApproval: 0
        }
    }

    /// The release as JSON: its document as the DSL writes it, plus its `status`.
    static func json(_ report: ReleaseReport) -> JSONValue {
        var object: [String: JSONValue] = [:]
        if case .object(let document)? = try? JSONDecoder().decode(JSONValue.self, from: Data(DSLWriter.json(.release(report.release), pretty: false).utf8)) {
            object = document
        }
        if let status = report.status, let data = try? JSONEncoder().encode(status), let value = try? JSONDecoder().decode(JSONValue.self, from: data) {
            object["status"] = value
        }
        return .object(object)
    }

    // MARK: Formatting

    static func row(_ cells: [String]) -> String {
        zip(cells, columns).enumerated().map { index, pair in
            index == columns.count - 1 ? pair.0 : pair.0.padding(toLength: max(pair.1.width, pair.0.count), withPad: " ", startingAt: 0)
        }.joined(separator: "   ") + "\n"
    }

    static func labelled(_ lines: [(String, String)]) -> String {
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "   " + $0.1 + "\n" }.joined()
    }

    /// `2026-12-06T20:41:03.120Z`, as the server writes times: rounded to the millisecond.
    static func time(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let seconds = (milliseconds / 1000).rounded(.down)
        let whole = Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle())
        return whole.dropLast() + String(format: ".%03dZ", Int(milliseconds - seconds * 1000))
    }

    /// A share as a percentage with two decimals: `0.003` → `0.30%`.
    static func percent(_ share: Double) -> String {
        String(format: "%.2f%%", share * 100)
    }

    /// A number with at most four significant digits and no needless zeros: `48`, `0.001`, `1.235`.
    static func number(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e9 { return String(Int(value)) }
        return String(format: "%.4g", value)
    }
}
