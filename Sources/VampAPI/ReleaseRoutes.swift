import Foundation
import HTTPTypes
import Hummingbird
import VampCore
import VampDSL
import VampModel
import VampReleases

/// A release's actions (`POST /releases/{r}/pause|resume|approve|promote|abort`) and the `status` every answer about a
/// release carries (its phase, step, weight, evidence, checks and timeline).
struct ReleaseHandlers: Sendable {
    let vamp: Vamp

    /// The release and the action, when the request is `/releases/{r}/{action}`.
    static func action(_ context: VampRequestContext) -> (name: String, command: ReleaseCommand)? {
        guard context.parameters.get("kind") == "releases" else { return nil }
        let parts = context.parameters.getCatchAll().map(String.init)
        guard parts.count == 2, let command = ReleaseCommand(rawValue: parts[1]) else { return nil }
        return (parts[0].removingPercentEncoding ?? parts[0], command)
    }

    /// The release and the word after it, when the request is `/releases/{r}/{word}`: an action's path, whatever the
    /// word (an unknown one is answered 404 with the actions there are).
    static func actionPath(_ context: VampRequestContext) -> (name: String, word: String)? {
        guard context.parameters.get("kind") == "releases" else { return nil }
        let parts = context.parameters.getCatchAll().map(String.init)
        guard parts.count == 2 else { return nil }
        return (parts[0].removingPercentEncoding ?? parts[0], parts[1].removingPercentEncoding ?? parts[1])
    }

    /// 404 for `/releases/{r}/{word}` with a word that is no action.
    static func unknownAction(_ word: String) -> Response {
        let actions = ReleaseCommand.allCases.map(\.rawValue).joined(separator: ", ")
        return APIAnswer.json(["message": "a release has no action '\(QueryParameters.shown(word))'; use one of \(actions)"], status: .notFound)
    }

    /// Carries out the action and answers the release with its status after it.
    func act(_ request: Request, name: String, command: ReleaseCommand) async throws -> Response {
        guard try await vamp.read(.release, name: name) != nil else { throw OperationError(.notFound, "there is no release '\(name)'") }
        try await vamp.releaseCommand(command, release: name)
        guard let stored = try await vamp.read(.release, name: name) else { return Response(status: .notFound) }
        return try await render([stored], single: true, request: request, status: .ok)
    }

    /// The releases as JSON or YAML, each with its `status` (none before it started).
    func render(_ items: [StoredArtifact], single: Bool, request: Request, status: HTTPResponse.Status) async throws -> Response {
        let format = BodyFormat.ofResponse(accept: request.headers[.accept])
        var texts: [String] = []
        for stored in items {
            let artifact = try vamp.artifact(stored)
            texts.append(DSLWriter.text(artifact, status: try await vamp.releaseStatus(stored.name), json: format == .json))
        }
        let body: String = switch format {
        case .json: single && texts.count == 1 ? texts[0] : "[" + texts.joined(separator: ",") + "]"
        case .yaml: single && texts.count == 1 ? texts[0] : texts.map { "---\n" + $0 }.joined()
        }
        return Response(status: status, headers: [.contentType: format.mediaType], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
