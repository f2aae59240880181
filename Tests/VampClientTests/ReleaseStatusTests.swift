import Foundation
import Testing
@testable import VampClient
import VampModel

/// A release as `GET /api/v1/releases/{name}` answers it (the shape of issue 27's API contract).
enum ReleaseFixtures {
    static let status = """
        {"state": "progressing", "step": 2, "steps": 4, "weight": "25%",
         "started": "2026-12-06T20:41:03.120Z", "updated": "2026-12-06T20:43:10.002Z",
         "step_started": "2026-12-06T20:42:40.000Z", "step_requests": 120, "holding_since": "2026-12-06T20:43:00.500Z",
         "evidence": {
           "baseline": {"requests": 1000, "errors": 3, "error_rate": 0.003, "p50": 12, "p95": 30, "p99": 48},
           "canary": {"requests": 120, "errors": 0, "error_rate": 0, "p50": 11, "p95": 29, "p99": 45.5}},
         "checks": [
           {"check": "error_rate", "outcome": "pass", "canary": 0.004, "baseline": 0.003, "statistic": 0.001,
            "threshold": 0.01, "explanation": "the canary's error rate is within 1% of the baseline's"},
           {"check": "response_time", "outcome": "not_judged", "canary": null, "baseline": null, "statistic": null,
            "threshold": 1.2, "explanation": "too few requests to judge p99"}],
         "timeline": [
           {"time": "2026-12-06T20:41:03.120Z", "decision": "started", "step": 1, "weight": "5%",
            "message": "started at 5%", "checks": []},
           {"time": "2026-12-06T20:42:40.000Z", "decision": "advanced", "step": 2, "weight": "25%",
            "message": "step 1 (5%) passed: 230 requests to the canary",
            "checks": [{"check": "error_rate", "outcome": "pass", "canary": 0, "baseline": 0.003, "statistic": -0.002,
                        "threshold": 0.01, "explanation": "within"}]}]}
        """

    static let release = """
        {"kind": "release", "name": "sava-1.1", "deployment": "sava", "cluster": "web", "port": "web",
         "baseline": "sava:1.0", "canary": "sava:1.1", "steps": ["5%", "25%", "50%", "100%"],
         "step": {"minimum_duration": "30s", "minimum_requests": 200},
         "status": \(status)}
        """

    /// An aborted release: the canary at 0%, no evidence yet, an unknown decision kind from a newer server.
    static let aborted = """
        {"name": "sava-1.2", "deployment": "sava", "cluster": "web", "port": "web", "baseline": "sava:1.0",
         "canary": "sava:1.2", "steps": [{"weight": "10%", "approval": true}, "100%"],
         "status": {"state": "aborted", "step": 1, "steps": 2, "weight": "0%", "started": "2026-12-06T21:00:00Z",
                    "updated": "2026-12-06T21:00:05.5Z",
                    "timeline": [{"time": "2026-12-06T21:00:05.500Z", "decision": "aborted", "step": 1, "weight": "0%",
                                  "message": "aborted by someone"},
                                 {"time": "2026-12-06T21:00:05.600Z", "decision": "noted", "step": 1, "weight": "0%",
                                  "message": "a decision this client does not know"}]}}
        """
}

@Suite("Release status reading")
struct ReleaseStatusTests {
    @Test("a release with its status reads: the document by the DSL reader, every status field by JSONDecoder")
    func readsRelease() throws {
        let report = try #require(try VampClient.releaseReports(ReleaseFixtures.release).first)
        #expect(report.release.name == "sava-1.1")
        #expect(report.release.steps.map(\.weight.value) == [5, 25, 50, 100])
        #expect(report.release.minimumRequests == 200)
        let status = try #require(report.status)
        #expect(status.state == .progressing && !status.state.isFinal)
        #expect(status.step == 2 && status.steps == 4 && status.weight == Percentage(25))
        #expect(abs(status.started.timeIntervalSince1970 - 1_796_589_663.120) < 0.0005)
        #expect(status.stepRequests == 120 && status.awaitingApproval == nil && status.waitingForWebhook == nil)
        #expect(abs((status.holdingSince?.timeIntervalSince1970 ?? 0) - 1_796_589_780.5) < 0.0005)
        #expect(status.evidence?.baseline.requests == 1000 && status.evidence?.baseline.errorRate == 0.003)
        #expect(status.evidence?.canary.p99 == 45.5)
        #expect(status.checks.map(\.check) == ["error_rate", "response_time"])
        #expect(status.checks[1].canary == nil && status.checks[1].threshold == 1.2 && status.checks[1].outcome == "not_judged")
        #expect(status.timeline.map(\.decision) == ["started", "advanced"])
        #expect(status.timeline[1].checks.first?.statistic == -0.002)
        #expect(status.timeline[0].checks.isEmpty)
    }

    @Test("a list answer reads every release; times without milliseconds and unknown decisions are read")
    func readsList() throws {
        let reports = try VampClient.releaseReports("[\(ReleaseFixtures.release), \(ReleaseFixtures.aborted)]")
        #expect(reports.map(\.release.name) == ["sava-1.1", "sava-1.2"])
        let aborted = try #require(reports[1].status)
        #expect(aborted.state == .aborted && aborted.state.isFinal && aborted.weight == .zero)
        #expect(abs(aborted.started.timeIntervalSince1970 - 1_796_590_800) < 0.0005)
        #expect(aborted.evidence == nil && aborted.checks.isEmpty)
        #expect(aborted.timeline.map(\.decision) == ["aborted", "noted"])
        #expect(reports[1].release.steps.first?.approval == true)
    }

    @Test("the status encodes back to the server's JSON and reads back equal")
    func roundTrip() throws {
        let status = try JSONDecoder().decode(ReleaseStatus.self, from: Data(ReleaseFixtures.status.utf8))
        let data = try JSONEncoder().encode(status)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["started"] as? String == "2026-12-06T20:41:03.120Z")
        #expect(object["weight"] as? String == "25%")
        #expect(object["state"] as? String == "progressing")
        #expect(object["step_requests"] as? Int == 120)
        #expect(object["holding_since"] as? String == "2026-12-06T20:43:00.500Z")
        #expect(try JSONDecoder().decode(ReleaseStatus.self, from: data) == status)
    }

    @Test("every state's name is the server's, and only the last four are final")
    func states() {
        #expect(ReleaseStatus.State.allCases.map(\.rawValue) == [
            "progressing", "holding", "paused", "awaiting_approval", "promoted", "rolled_back", "aborted", "failed",
        ])
        #expect(ReleaseStatus.State.allCases.filter(\.isFinal) == [.promoted, .rolledBack, .aborted, .failed])
    }

    @Test("a status that does not read is an invalidAnswer naming the release", arguments: [
        #"{"state": "sleeping", "step": 1, "steps": 2, "weight": "5%", "started": "2026-12-06T21:00:00Z", "updated": "2026-12-06T21:00:00Z"}"#,
        #"{"state": "paused", "step": 1, "steps": 2, "weight": "5", "started": "2026-12-06T21:00:00Z", "updated": "2026-12-06T21:00:00Z"}"#,
        #"{"state": "paused", "step": 1, "steps": 2, "weight": "5%", "started": "yesterday", "updated": "2026-12-06T21:00:00Z"}"#,
    ])
    func refusesBadStatus(status: String) {
        let text = #"{"name": "r", "deployment": "d", "cluster": "c", "port": "p", "baseline": "a", "canary": "b", "steps": ["100%"], "status": "#
            + status + "}"
        #expect {
            try VampClient.releaseReports(text)
        } throws: { error in
            guard let error = error as? VampClientError else { return false }
            return error.code == .invalidAnswer && error.message.hasPrefix("the status of release 'r' does not read")
        }
    }

    @Test("a release without a status reads with none")
    func withoutStatus() throws {
        let report = try #require(try VampClient.releaseReports(#"{"name": "r", "deployment": "d", "cluster": "c", "port": "p", "baseline": "a", "canary": "b", "steps": ["100%"]}"#).first)
        #expect(report.status == nil)
    }
}
