import Foundation
import HTTPTypes
import Hummingbird
import VampCore
import VampModel

/// A workflow's status and runs: `GET|PUT /workflows/{w}/status` (the original's bare status word) and
/// `GET /workflows/{w}/runs` (what the scheduler says of it now, and its last runs, newest first).
struct WorkflowHandlers: Sendable {
    let vamp: Vamp
    let configuration: VampAPIConfiguration

    /// `status` or `runs` with the workflow's name, when the request is `/workflows/{w}/status` or `/workflows/{w}/runs`.
    static func subresource(_ context: VampRequestContext) -> (String, String)? {
        guard context.parameters.get("kind") == "workflows" else { return nil }
        let parts = context.parameters.getCatchAll().map(String.init)
        guard parts.count == 2, ["status", "runs"].contains(parts[1]) else { return nil }
        return (parts[1], parts[0].removingPercentEncoding ?? parts[0])
    }

    /// The methods of `status` and `runs`.
    static func methods(_ subresource: String) -> [HTTPRequest.Method] { subresource == "status" ? [.get, .put] : [.get] }

    /// `GET /workflows/{w}/status`: the status word as a JSON string (`"running"`), as Vamp 0.9.5 answered.
    func status(_ name: String) async throws -> Response {
        guard let workflow = try await vamp.workflow(named: name) else { return Response(status: .notFound) }
        return APIAnswer.json(text: "\"\(workflow.status.rawValue)\"")
    }

    /// `PUT /workflows/{w}/status` with the bare word (`running`, `suspended`, `restarting`; quoted or not): 202 with
    /// the status stored, which the scheduler then moves on (`suspending` → `suspended`, `starting` → `running`).
    func setStatus(_ request: Request, _ name: String) async throws -> Response {
        guard try await vamp.workflow(named: name) != nil else { return Response(status: .notFound) }
        let text = try await RequestBody.text(request, limit: 1024, required: true) ?? ""
        let status = try await vamp.setWorkflowStatus(text, workflow: name)
        return APIAnswer.json(text: "\"\(status.rawValue)\"", status: .accepted)
    }

    /// What `GET /workflows/{w}/runs` answers.
    struct RunsAnswer: Encodable {
        var workflow: String
        var status: String
        var schedule: WorkflowScheduleStatus?
        var runs: [RunAnswer]
    }

    struct RunAnswer: Encodable {
        var run: WorkflowRun
        func encode(to encoder: any Encoder) throws {
            try run.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(run.duration.map { ($0 * 1000).rounded() / 1000 }, forKey: .duration)
        }
        enum Keys: String, CodingKey { case duration }
    }

    func runs(_ name: String) async throws -> Response {
        guard let workflow = try await vamp.workflow(named: name), let runs = try await vamp.workflowRuns(name) else {
            return Response(status: .notFound)
        }
        let answer = RunsAnswer(
            workflow: name, status: workflow.status.rawValue, schedule: vamp.workflowSchedule(name), runs: runs.map(RunAnswer.init))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondISO8601
        encoder.outputFormatting = [.sortedKeys]
        return APIAnswer.json(text: String(decoding: try encoder.encode(answer), as: UTF8.self))
    }
}
