import Foundation
import HTTPTypes
import Hummingbird
import Persistence
import VampCore
import VampDSL
import VampModel

/// `POST|PUT|DELETE /api/v1` with documents of several kinds (§3.3): one request, one transaction.
extension ArtifactHandlers {
    func multiple(_ request: Request, _ context: VampRequestContext, _ method: Method) async throws -> Response {
        if method == .delete { return try await deleteMultiple(request) }
        let (documents, text) = try await documents(request, kind: nil)
        let validateOnly = Self.flag(request, "validate_only")
        // `kind: deployment` documents are created or merged, with the others, in one transaction.
        let stored = try await vamp.apply(documents, intent: method == .put ? .replace : .create, validateOnly: validateOnly, requestBody: text)
        return try await written(stored, request, validateOnly: false, status: .accepted)
    }

    /// `DELETE /api/v1`: of each document only the kind and name are read (cleanup scripts send short ones), except
    /// that a deployment's document says what to slice. The deletions and the slices are one transaction.
    func deleteMultiple(_ request: Request) async throws -> Response {
        guard let text = try await RequestBody.text(request, limit: configuration.maximumBodySize, required: true) else {
            throw OperationError(.invalid, "the request body is empty; send the artifacts to delete")
        }
        let deletions: [DSLDeletion]
        do {
            deletions = try DSLReader.deletions(text)
        } catch {
            throw OperationError(.invalid, "\(error)", cause: error)
        }
        guard !deletions.isEmpty else { throw OperationError(.invalid, "the request body holds no artifact to delete; send at least one with kind and name") }
        var artifacts: [(ArtifactKind, String)] = []
        var slices: [(name: String, request: DeploymentRequest)] = []
        for deletion in deletions {
            switch deletion {
            case .artifact(let kind, let name): artifacts.append((kind, name))
            case .deployment(let document): slices.append((document.artifact.name ?? "", DeploymentRequest.of(document)))
            }
        }
        try await vamp.delete(artifacts, slicing: slices, validateOnly: Self.flag(request, "validate_only"))
        return Response(status: .accepted)
    }
}
