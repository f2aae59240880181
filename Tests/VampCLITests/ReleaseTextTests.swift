import Foundation
import Testing
@testable import VampCLI
@testable import VampClient
import VampModel

/// How `vamp release` prints a release, from the server's JSON (the shape of issue 27's API contract).
@Suite("vamp release: status header, timeline table, list, exit codes")
struct ReleaseTextTests {
    static let json = """
        {"kind": "release", "name": "sava-1.1", "deployment": "sava", "cluster": "web", "port": "web",
         "baseline": "sava:1.0", "canary": "sava:1.1", "steps": ["5%", "25%", "50%", "100%"],
         "status": {"state": "progressing", "step": 2, "steps": 4, "weight": "25%",
           "started": "2026-12-06T20:41:03.120Z", "updated": "2026-12-06T20:43:10.002Z", "step_requests": 120,
           "evidence": {
             "baseline": {"requests": 1000, "errors": 3, "error_rate": 0.003, "p50": 12, "p95": 30, "p99": 48},
             "canary": {"requests": 120, "errors": 0, "error_rate": 0, "p50": 11, "p95": 29, "p99": 45.5}},
           "checks": [
             {"check": "error_rate", "outcome": "pass", "canary": 0.004, "baseline": 0.003, "statistic": 0.001,
              "threshold": 0.01, "explanation": "within the allowance"},
             {"check": "response_time", "outcome": "fail", "canary": 95, "baseline": 48, "statistic": 1.62,
              "threshold": 1.2, "explanation": "p99 is 1.98 times the baseline's"}],
           "timeline": [
             {"time": "2026-12-06T20:41:03.120Z", "decision": "started", "step": 1, "weight": "5%", "message": "started at 5%"},
             {"time": "2026-12-06T20:42:40.000Z", "decision": "approval_needed", "step": 2, "weight": "5%",
              "message": "step 2 (25%) waits for approval"}]}}
        """

    static func report(_ text: String = json) throws -> ReleaseReport {
        try #require(try VampClient.releaseReports(text).first)
    }

    @Test("status: the header with state, step x/y, weight, both routes' evidence and every check; then the timeline")
    func status() throws {
        let expected = """
            RELEASE    sava-1.1 (gateway sava/web/web: sava:1.0 → sava:1.1)
            STATE      progressing
            STEP       2/4 (120 canary requests in this step)
            WEIGHT     25%
            EVIDENCE   baseline 1000 requests, 3 errors (0.30%), p50 12 ms, p95 30 ms, p99 48 ms
                       canary   120 requests, 0 errors (0.00%), p50 11 ms, p95 29 ms, p99 45.5 ms
            CHECKS     error_rate pass: canary 0.40%, baseline 0.30%; statistic 0.001 ≤ threshold 0.01. within the allowance
                       response_time fail: canary 95 ms, baseline 48 ms; statistic 1.62 > threshold 1.2. p99 is 1.98 times the baseline's

            TIME                       DECISION          STEP    WEIGHT   MESSAGE
            2026-12-06T20:41:03.120Z   started           1/4     5%       started at 5%
            2026-12-06T20:42:40.000Z   approval_needed   2/4     5%       step 2 (25%) waits for approval

            """
        #expect(ReleaseText.status(try Self.report()) == expected)
    }

    @Test("awaiting approval and a pending webhook are said in the state and the summary")
    func waiting() throws {
        let text = Self.json.replacingOccurrences(of: #""state": "progressing""#, with: #""state": "awaiting_approval", "awaiting_approval": 2, "waiting_for_webhook": "before_step""#)
        let report = try Self.report(text)
        #expect(ReleaseText.header(report).contains("STATE      awaiting_approval (step 2 waits for approval) (waiting for the before_step webhook)\n"))
        #expect(ReleaseText.summary(report) == "sava-1.1: awaiting_approval, step 2/4, canary 25% (step 2 waits for approval: vamp release approve sava-1.1)")
    }

    @Test("holding says since when")
    func holding() throws {
        let text = Self.json.replacingOccurrences(of: #""state": "progressing""#, with: #""state": "holding", "holding_since": "2026-12-06T20:43:00.000Z""#)
        #expect(ReleaseText.header(try Self.report(text)).contains("\nSTATE      holding (since 2026-12-06T20:43:00.000Z)\n"))
    }

    @Test("a row wider than its column pushes the rest right rather than cutting it")
    func wideRow() throws {
        let status = try #require(try Self.report().status)
        var entry = status.timeline[0]
        entry.decision = "a_decision_longer_than_fifteen"
        #expect(ReleaseText.timelineRow(entry, steps: 4) == "2026-12-06T20:41:03.120Z   a_decision_longer_than_fifteen   1/4     5%       started at 5%\n")
    }

    @Test("a release with no status, no evidence and no checks prints only what there is")
    func bare() throws {
        let none = try Self.report(#"{"name": "r", "deployment": "d", "cluster": "c", "port": "p", "baseline": "a", "canary": "b", "steps": ["100%"]}"#)
        #expect(ReleaseText.status(none) == "RELEASE   r (gateway d/c/p: a → b)\nSTATE     not started\n\n" + ReleaseText.timelineHeader())
        #expect(ReleaseText.summary(none) == "r: not started")
        let started = try Self.report(#"""
            {"name": "r", "deployment": "d", "cluster": "c", "port": "p", "baseline": "a", "canary": "b", "steps": ["100%"],
             "status": {"state": "progressing", "step": 1, "steps": 1, "weight": "100%", "started": "2026-12-06T21:00:00Z", "updated": "2026-12-06T21:00:00Z"}}
            """#)
        #expect(ReleaseText.header(started) == "RELEASE   r (gateway d/c/p: a → b)\nSTATE     progressing\nSTEP      1/1\nWEIGHT    100%\n")
    }

    @Test("list: one row per release with its state, step, weight and last change")
    func list() throws {
        let expected = """
            NAME       GATEWAY        BASELINE   CANARY     STATE         STEP   WEIGHT   UPDATED
            sava-1.1   sava/web/web   sava:1.0   sava:1.1   progressing   2/4    25%      2026-12-06T20:43:10.002Z

            """
        let list = ReleaseText.list([try Self.report()])
        #expect(list == expected, "\(list)")
    }

    @Test("--watch exits 0 promoted, 3 rolled back, 4 aborted, 5 failed")
    func exitCodes() {
        #expect([ReleaseStatus.State.promoted, .rolledBack, .aborted, .failed].map(ReleaseText.exitCode) == [0, 3, 4, 5])
        #expect(ReleaseControl.allCases.map(ReleaseText.pastTense) == ["paused", "resumed", "approved", "promoted", "aborted"])
    }

    @Test("-o json is the document plus its status, as the server writes them")
    func json() throws {
        let value = ReleaseText.json(try Self.report())
        guard case .object(let object) = value, case .object(let status)? = object["status"] else {
            Issue.record("not an object with a status: \(value)")
            return
        }
        #expect(object["name"] == .string("sava-1.1") && object["canary"] == .string("sava:1.1"))
        #expect(status["state"] == .string("progressing") && status["step"] == .number("2"))
        #expect(status["weight"] == .string("25%") && status["updated"] == .string("2026-12-06T20:43:10.002Z"))
        #expect(try VampClient.releaseReports(compactJSON(value)).first == (try Self.report()), "the JSON reads back the same")
    }

    @Test("numbers: percentages with two decimals, others with up to four significant digits")
    func numbers() {
        #expect(ReleaseText.percent(0.0123) == "1.23%")
        #expect(ReleaseText.number(48) == "48" && ReleaseText.number(0.001) == "0.001" && ReleaseText.number(1.23456) == "1.235")
        #expect(ReleaseText.number(-0.002) == "-0.002")
    }
}
